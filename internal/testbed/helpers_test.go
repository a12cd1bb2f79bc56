package testbed_test

import "os"

func testingThrowaway(env string) bool { return os.Getenv(env) == "" }
