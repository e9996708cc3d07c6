"""`python -m florabert` is the same CLI as `florabert` (so torchrun/accelerate can start it)."""

from florabert.cli import main

if __name__ == "__main__":
    main()
