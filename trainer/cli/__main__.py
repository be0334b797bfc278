import sys

from agent_r1.trainer.cli.main import main

if __name__ == "__main__":  # importing the module (a package walk does) runs nothing
    sys.exit(main())
