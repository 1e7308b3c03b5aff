"""fuzz_target: one libFuzzer target, and its corpus replayed as a test.

    fuzz_target(name = "msg_validate_fuzz", srcs = [...], deps = [...],
                corpus = "corpus/msg_validate")

makes
  :msg_validate_fuzz         the fuzzer. With --config=fuzz (clang) it links
                             libFuzzer; otherwise it replays the files named
                             on its command line.
  :msg_validate_fuzz_replay  a cc_test that runs every corpus file once, so
                             `bazel test //...` keeps the corpus as regression
                             cases (with --config=asan, under ASan/UBSan).
"""

def fuzz_target(name, srcs, corpus, deps = []):
    native.cc_binary(
        name = name,
        srcs = srcs,
        deps = deps + select({
            "//tests/fuzz:fuzzing": [],
            "//conditions:default": ["//tests/fuzz:replay_main"],
        }),
        linkopts = select({
            "//tests/fuzz:fuzzing": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
    )
    native.cc_test(
        name = name + "_replay",
        srcs = srcs,
        deps = deps + ["//tests/fuzz:replay_main"],
        args = [native.package_name() + "/" + corpus],
        data = native.glob([corpus + "/*"], allow_empty = False),
        size = "small",
        tags = ["fuzz_replay"],
    )
