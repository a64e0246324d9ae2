from tsunagi.cli import main

raise SystemExit(main())
