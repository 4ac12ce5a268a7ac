import ArgumentParser
import Foundation
import Kernels

/// `augerino bench gemm`: SGEMM GFLOP/s for square sizes, checked against a double-precision
/// dot product on sampled entries before timing.
struct BenchGemm: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "SGEMM GFLOP/s (median and best) for square matrices.")

    @Option(help: "Comma-separated square sizes n (C = A·B with n×n matrices).")
    var sizes: String = "256,512,1024"

    @Option(help: "Threads (default: AUGERINO_THREADS, else all cores).")
    var threads: Int?

    @Option(help: "Seconds spent timing each size.")
    var seconds: Double = 2

    @Option(help: "Register tile: avx512, avx2 or portable (default: the best this CPU has).")
    var kernel: String?

    @Flag(help: "One JSON object per line instead of a table.")
    var json = false

    func validate() throws {
        guard parsedSizes != nil else {
            throw ValidationError("--sizes \"\(sizes)\": expected comma-separated whole numbers from 1 to 8192, such as 256,512,1024")
        }
        if let threads, !(1...1024).contains(threads) {
            throw ValidationError("--threads \(threads): a thread count must be from 1 to 1024")
        }
        guard seconds > 0 else { throw ValidationError("--seconds \(seconds): must be positive") }
    }

    var parsedSizes: [Int]? {
        let values = sizes.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0 != nil && (1...8192).contains($0!) }) else { return nil }
        return values.map { $0! }
    }

    func run() throws {
        let parallelism = try threads.map(Parallelism.init(threads:)) ?? Parallelism.fromEnvironment()
        let tile = try resolveKernel(kernel)
        if !json { print("sgemm, \(parallelism), tile \(tile)") }
        for n in parsedSizes ?? [] {
            var rng = BenchRandom(seed: UInt64(n))
            let a = (0..<n * n).map { _ in rng.nextSymmetric() }
            let b = (0..<n * n).map { _ in rng.nextSymmetric() }
            var c = [Float](repeating: 0, count: n * n)
            let run = {
                a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { pc in
                    sgemm(.none, .none, m: n, n: n, k: n, alpha: 1, a: pa.baseAddress!, lda: n,
                          b: pb.baseAddress!, ldb: n, beta: 0, c: pc.baseAddress!, ldc: n,
                          parallelism: parallelism, kernel: tile)
                } } }
            }
            run()
            try checkSampledEntries(a: a, b: b, c: c, n: n)
            let times = BenchTiming.measure(seconds: seconds, run)
            let flop = 2.0 * Double(n) * Double(n) * Double(n)
            let median = flop / BenchTiming.median(times) / 1e9, best = flop / times[0] / 1e9
            if json {
                print(BenchTiming.jsonLine([("impl", "augerino"), ("m", n), ("n", n), ("k", n),
                                            ("threads", parallelism.threads), ("gflops_median", median),
                                            ("gflops_best", best), ("kernel", tile.name)]))
            } else {
                print(String(format: "  %5d³  median %7.1f GFLOP/s   best %7.1f GFLOP/s", n, median, best))
            }
        }
    }

    /// Compares 64 entries of C with a double-precision dot product.
    private func checkSampledEntries(a: [Float], b: [Float], c: [Float], n: Int) throws {
        var rng = BenchRandom(seed: 99)
        for _ in 0..<64 {
            let i = Int(rng.next() % UInt64(n)), j = Int(rng.next() % UInt64(n))
            var sum = 0.0, scale = 0.0
            for p in 0..<n {
                sum += Double(a[i * n + p]) * Double(b[p * n + j])
                scale += abs(Double(a[i * n + p]) * Double(b[p * n + j]))
            }
            if abs(Double(c[i * n + j]) - sum) > 1e-5 * scale + 1e-6 {
                throw ValidationError("sgemm \(n)³ gave C[\(i)][\(j)] = \(c[i * n + j]) but the reference is \(sum); not timing a wrong kernel")
            }
        }
    }
}

/// The tile named on the command line, else `AUGERINO_GEMM_KERNEL`, else the best one.
func resolveKernel(_ name: String?) throws -> GemmKernel {
    guard let name else { return try GemmKernel.fromEnvironment() }
    return try GemmKernel.fromEnvironment(["AUGERINO_GEMM_KERNEL": name])
}

/// SplitMix64, for benchmark inputs only.
struct BenchRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    mutating func nextSymmetric() -> Float { Float(next() >> 40) / Float(1 << 24) * 2 - 1 }
}
