from fhir_server.cli import main

raise SystemExit(main())
