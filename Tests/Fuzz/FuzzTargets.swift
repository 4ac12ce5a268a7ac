// libFuzzer entry point for the Bundle readers: Tests/Fuzz/run.sh compiles this file together
// with Sources/Bundle once per reader, choosing the reader with -D FUZZ_<NAME> (FUZZ_BUNDLE: the
// whole `bundle check` path, structure-aware; BundleFuzzer.swift). A reader may
// reject an input with an error; any crash, hang or sanitizer report is a bug.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let data = Data(bytes: bytes, count: size)
    #if FUZZ_GZIP
    _ = try? Gzip.decompress(data, file: "fuzz", limit: 1 << 22)
    #elseif FUZZ_TAR
    _ = try? Tar.read(data, file: "fuzz", maxMembers: 1000)
    #elseif FUZZ_PNG
    _ = try? PNG.decode(data, file: "fuzz")
    #elseif FUZZ_NPY
    _ = try? NPY.parse(data, file: "fuzz")
    #elseif FUZZ_IDX
    _ = try? IDXArray.parse(data, file: "fuzz")
    #elseif FUZZ_MANIFEST
    _ = try? Manifest.parse(data, file: "fuzz")
    #elseif FUZZ_BUNDLE
    BundleFuzzer.run(UnsafeBufferPointer(start: bytes, count: size))
    #endif
    return 0
}
