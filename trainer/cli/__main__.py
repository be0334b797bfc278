import sys

from agent_r1.trainer.cli.main import main

sys.exit(main())
