from mqlml.cli import main

main()
