"""walrep_fuzz_target: one fuzz entry point, built two ways.

- `<name>_corpus_test` (always): the entry point linked with corpus_driver.cc, a plain
  gtest-free driver that feeds every file under corpus/<name>/ to it. Runs in the normal
  (and asan) test suite, so the checked-in corpus is replayed on every test run.
- `<name>_fuzzer` (tagged manual): a libFuzzer binary for `--config=fuzz` (clang); see
  README.md for the longer run.
"""

def walrep_fuzz_target(name, srcs, deps = []):
    native.filegroup(
        name = name + "_corpus",
        srcs = native.glob(["corpus/" + name + "/**"]),
    )
    native.cc_test(
        name = name + "_corpus_test",
        srcs = srcs + ["//tests/fuzz:corpus_driver.cc"],
        args = ["$(locations :" + name + "_corpus)"],
        data = [":" + name + "_corpus"],
        deps = deps,
    )
    native.cc_binary(
        name = name + "_fuzzer",
        srcs = srcs,
        linkopts = ["-fsanitize=fuzzer,address"],
        deps = deps,
        tags = ["manual"],
        testonly = True,
    )
