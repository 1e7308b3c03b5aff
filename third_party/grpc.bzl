"""cc_grpc_library: C++ gRPC stubs from a proto_library, with the system plugin.

    proto_library(name = "admin_proto", srcs = ["admin.proto"])
    cc_proto_library(name = "admin_cc_proto", deps = [":admin_proto"])
    cc_grpc_library(name = "admin_cc_grpc", proto = ":admin_proto",
                    deps = [":admin_cc_proto"])

The rule must live in the same package as the .proto files it compiles.
"""

def _grpc_srcs_impl(ctx):
    info = ctx.attr.proto[ProtoInfo]
    hdrs = []
    srcs = []
    for src in info.direct_sources:
        stem = src.basename[:-len(".proto")]
        hdrs.append(ctx.actions.declare_file(stem + ".grpc.pb.h"))
        srcs.append(ctx.actions.declare_file(stem + ".grpc.pb.cc"))
    outs = hdrs + srcs
    args = ctx.actions.args()
    args.add("--plugin=protoc-gen-grpc=" + ctx.attr.plugin)
    args.add("--grpc_out=" + ctx.bin_dir.path)
    args.add_all(info.transitive_proto_path, format_each = "-I%s")
    args.add("-I.")
    args.add_all(info.direct_sources)
    ctx.actions.run(
        executable = ctx.executable._protoc,
        arguments = [args],
        inputs = info.transitive_sources,
        outputs = outs,
        mnemonic = "GrpcCppGen",
        progress_message = "Generating gRPC stubs for %s" % ctx.label,
    )
    return [
        DefaultInfo(files = depset(outs)),
        OutputGroupInfo(hdrs = depset(hdrs), srcs = depset(srcs)),
    ]

_grpc_srcs = rule(
    implementation = _grpc_srcs_impl,
    attrs = {
        "proto": attr.label(mandatory = True, providers = [ProtoInfo]),
        "plugin": attr.string(default = "/usr/bin/grpc_cpp_plugin"),
        "_protoc": attr.label(
            default = "@com_google_protobuf//:protoc",
            executable = True,
            cfg = "host",
        ),
    },
)

def cc_grpc_library(name, proto, deps = [], visibility = None, **kwargs):
    _grpc_srcs(name = name + "_gen", proto = proto)
    native.filegroup(name = name + "_hdrs", srcs = [":" + name + "_gen"], output_group = "hdrs")
    native.filegroup(name = name + "_srcs", srcs = [":" + name + "_gen"], output_group = "srcs")
    native.cc_library(
        name = name,
        srcs = [":" + name + "_srcs"],
        hdrs = [":" + name + "_hdrs"],
        deps = deps + ["//third_party:grpc++"],
        visibility = visibility,
        **kwargs
    )
