from pyarmonik.cli import main

main()
