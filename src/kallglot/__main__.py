from kallglot.cli.main import main

main()
