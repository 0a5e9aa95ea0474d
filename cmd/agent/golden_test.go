package main

import "flag"

// update rewrites the package's golden files (testdata/read/...) instead of comparing with them.
// The one -update flag of the package's tests: golden tests of other commands use it too.
var update = flag.Bool("update", false, "rewrite the golden files under testdata instead of comparing with them")
