// swift-tools-version: 6.1
import PackageDescription

// The GEMM register tiles are compiled once per instruction set; Kernels picks one at run time
// (see Sources/GemmMicroKernel/README.md). Only x86-64 has more than the portable tile.
#if arch(x86_64)
let avx2Flags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"])]
let avx512Flags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "skylake-avx512"])]
#else
let avx2Flags: [SwiftSetting] = []
let avx512Flags: [SwiftSetting] = []
#endif

// The numeric layers are compiled with optimisation in debug builds too: `swift test` builds
// debug, and unoptimised numeric Swift runs 10–100× slower, so the tests that align, train or
// compare kernels ran most of CI's time (the spread reader's three tests alone 380 s). Their
// checks (preconditions, overflow traps) stay; only `assert` goes, as in release.
let numericFlags: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]

let package = Package(
    name: "augerino",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "augerino", targets: ["augerino"]),
        .library(name: "Kernels", targets: ["Kernels"]),
        .library(name: "NN", targets: ["NN"]),
        .library(name: "Bundle", targets: ["Bundle"]),
        .library(name: "Invariance", targets: ["Invariance"]),
        .library(name: "Report", targets: ["Report"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "Pipeline", targets: ["Pipeline"]),
    ],
    // The PostgreSQL queue (daemon.conf's [queue] url, for many hosts) is built on request:
    // `--traits PostgreSQL`. It brings postgres-nio, SwiftNIO and two copies of BoringSSL, more
    // than half of a fresh release build's time; the embedded SQLite queue needs none of it.
    traits: [
        .trait(name: "PostgreSQL", description: "The PostgreSQL job queue (daemon.conf's [queue] url), through postgres-nio."),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", exact: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/vapor/postgres-nio", exact: "1.33.2"),
    ],
    targets: [
        .target(name: "GemmMicroKernel", path: "Sources/GemmMicroKernel/Portable", swiftSettings: numericFlags),
        .target(name: "GemmMicroKernelAVX2", dependencies: ["GemmMicroKernel"],
                path: "Sources/GemmMicroKernel/AVX2", swiftSettings: avx2Flags + numericFlags),
        .target(name: "GemmMicroKernelAVX512", dependencies: ["GemmMicroKernel"],
                path: "Sources/GemmMicroKernel/AVX512", swiftSettings: avx512Flags + numericFlags),
        .target(name: "Kernels", dependencies: ["GemmMicroKernel", "GemmMicroKernelAVX2", "GemmMicroKernelAVX512"],
                exclude: ["README.md"], swiftSettings: numericFlags),
        .target(name: "NN", dependencies: ["Kernels"], exclude: ["README.md"], swiftSettings: numericFlags),
        .target(name: "Invariance", dependencies: ["NN"], exclude: ["README.md"], swiftSettings: numericFlags),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "Bundle", dependencies: ["CZlib"], exclude: ["README.md"]),
        .target(name: "Report", dependencies: ["NN", "Invariance", "Bundle"], exclude: ["README.md"]),
        .target(name: "Training", dependencies: ["NN", "Invariance", "Bundle", "Report"], exclude: ["README.md"]),
        .target(name: "Pipeline", dependencies: [
            "Kernels", "NN", "Invariance", "Bundle", "Report", "Training",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "PostgresNIO", package: "postgres-nio", condition: .when(traits: ["PostgreSQL"])),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
        ], exclude: ["README.md"]),
        .executableTarget(name: "augerino", dependencies: [
            "Kernels", "NN", "Invariance", "Bundle", "Report", "Training", "Pipeline",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], exclude: ["README.md"]),
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "TestSupport"], exclude: ["torchvision_colour_reference.py"]),
        .testTarget(name: "NNTests", dependencies: ["NN", "Kernels", "TestSupport"]),
        .testTarget(name: "BundleTests", dependencies: ["Bundle", "CZlib", "TestSupport"]),
        .testTarget(name: "InvarianceTests", dependencies: ["Invariance", "NN", "TestSupport"]),
        .testTarget(name: "ReportTests", dependencies: ["Report", "Invariance", "Bundle", "NN", "TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Invariance", "NN", "Bundle", "TestSupport"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "Bundle", "Invariance", "NN", "TestSupport",
                                                         .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "augerinoTests", dependencies: ["augerino", "Pipeline", "Training", "Bundle", "NN", "Invariance", "TestSupport"],
                    exclude: ["Golden"]),
    ],
    swiftLanguageModes: [.v6]
)
