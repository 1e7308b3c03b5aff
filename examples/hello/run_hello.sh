#!/bin/sh
# Runs the example and checks its own verdict.
exec examples/hello/hello
