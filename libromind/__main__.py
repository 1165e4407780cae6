from libromind.cli import main

main()
