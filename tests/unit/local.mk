# Check unit tests (one suite per pure module)
