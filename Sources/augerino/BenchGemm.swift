import ArgumentParser
import Foundation
import Kernels
import NN

/// `augerino bench gemm`: SGEMM GFLOP/s for square sizes, checked against a double-precision
/// dot product on sampled entries before timing.
struct BenchGemm: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "SGEMM GFLOP/s (median and best) for square matrices.")

    @Option(help: "Comma-separated square sizes n (C = A·B with n×n matrices).")
    var sizes: String = "256,512,1024"

    @OptionGroup var threading: ThreadOption

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
        guard seconds > 0 else { throw ValidationError("--seconds \(seconds): must be positive") }
    }

    var parsedSizes: [Int]? { commaSeparatedWholeNumbers(sizes, in: 1...8192) }

    func run() throws {
        let parallelism = try threading.parallelism()
        let tile = try resolveKernel(kernel)
        if !json { print("sgemm, \(parallelism), tile \(tile)") }
        for n in parsedSizes ?? [] {
            var random = RandomGenerator(seed: UInt64(n))
            let a = (0..<n * n).map { _ in random.nextFloat(in: -1..<1) }
            let b = (0..<n * n).map { _ in random.nextFloat(in: -1..<1) }
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
        var random = RandomGenerator(seed: 99)
        for _ in 0..<64 {
            let i = random.nextInt(below: n), j = random.nextInt(below: n)
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

/// Median SGEMM GFLOP/s at 1024³ with the selected tile: the reference rate that `bench conv` and
/// `bench train` divide by (timed for two seconds, unchecked: `bench gemm` checks the kernel).
func sgemmRate1024(_ parallelism: Parallelism) -> Double {
    let n = 1024
    var random = RandomGenerator(seed: 1)
    let a = (0..<n * n).map { _ in random.nextFloat(in: -1..<1) }, b = (0..<n * n).map { _ in random.nextFloat(in: -1..<1) }
    var c = [Float](repeating: 0, count: n * n)
    let times = BenchTiming.measure(seconds: 2) {
        a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { pc in
            sgemm(.none, .none, m: n, n: n, k: n, alpha: 1, a: pa.baseAddress!, lda: n, b: pb.baseAddress!, ldb: n,
                  beta: 0, c: pc.baseAddress!, ldc: n, parallelism: parallelism)
        } } }
    }
    return 2 * Double(n * n * n) / BenchTiming.median(times) / 1e9
}
