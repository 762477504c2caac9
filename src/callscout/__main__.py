from callscout.cli import main

main()
