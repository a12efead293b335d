from asyncaction_cli.main import main

main()
