from kalipso.cli import main

raise SystemExit(main())
