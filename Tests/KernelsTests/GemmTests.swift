import TestSupport
import XCTest
@testable import Kernels

final class GemmTests: XCTestCase {
    /// Runs sgemm on fresh copies and returns C.
    private func run(_ ta: Transpose, _ tb: Transpose, m: Int, n: Int, k: Int, alpha: Float, a: [Float], lda: Int,
                     b: [Float], ldb: Int, beta: Float, c: [Float], ldc: Int, threads: Int, kernel: GemmKernel) -> [Float] {
        var out = c
        a.withPointer { pa in b.withPointer { pb in out.withMutablePointer { pc in
            sgemm(ta, tb, m: m, n: n, k: k, alpha: alpha, a: pa, lda: lda, b: pb, ldb: ldb, beta: beta, c: pc, ldc: ldc,
                  parallelism: Parallelism(threads: threads), kernel: kernel)
        } } }
        return out
    }

    func test_sgemm_everyKernelTransposeAndAwkwardShape_matchesNaive() {
        var rng = TestRandom(seed: 1)
        let shapes = [(1, 1, 1), (1, 7, 3), (5, 1, 2), (13, 17, 19), (12, 32, 5), (37, 65, 300), (97, 31, 1),
                      (2, 129, 7), (250, 33, 17), (61, 67, 259), (29, 70, 401)]
        for kernel in GemmKernel.everyTile() {
            for (m, n, k) in shapes {
                for ta in [Transpose.none, .transposed] {
                    for tb in [Transpose.none, .transposed] {
                        // Leading dimensions larger than needed, to catch stride mix-ups.
                        let lda = (ta == .none ? k : m) + 3, ldb = (tb == .none ? n : k) + 2, ldc = n + 5
                        let a = rng.floats((ta == .none ? m : k) * lda), b = rng.floats((tb == .none ? k : n) * ldb)
                        let c = rng.floats(m * ldc)
                        let (alpha, beta): (Float, Float) = (0.75, rng.below(2) == 0 ? 0 : -1.5)
                        let expected = naiveGemm(ta, tb, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                                                 beta: beta, c: c, ldc: ldc)
                        let actual = run(ta, tb, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                                         beta: beta, c: c, ldc: ldc, threads: 2, kernel: kernel)
                        assertClose(actual, expected, atol: 1e-4, rtol: 1e-4, "sgemm \(kernel) \(ta)\(tb) m\(m) n\(n) k\(k)")
                    }
                }
            }
        }
    }

    func test_sgemm_prepackedB_matchesNaive() {
        var rng = TestRandom(seed: 5)
        for kernel in GemmKernel.everyTile() {
            for (m, n, k, threads) in [(1, 1, 1, 1), (13, 17, 19, 2), (37, 65, 300, 2), (12, 100, 513, 3), (61, 40, 7, 1)] {
                for ta in [Transpose.none, .transposed] {
                    let lda = (ta == .none ? k : m) + 3, ldc = n + 5
                    let a = rng.floats((ta == .none ? m : k) * lda), b = rng.floats(k * n), c = rng.floats(m * ldc)
                    // The panels as documented: panel s holds B(p, s·nr + jj) for each p; zero past n.
                    let nr = kernel.nr, panels = (n + nr - 1) / nr
                    var packed = [Float](repeating: .nan, count: panels * k * nr)
                    for s in 0..<panels {
                        for p in 0..<k {
                            for jj in 0..<nr { packed[(s * k + p) * nr + jj] = s * nr + jj < n ? b[p * n + s * nr + jj] : 0 }
                        }
                    }
                    let expected = naiveGemm(ta, .none, m: m, n: n, k: k, alpha: 0.5, a: a, lda: lda, b: b, ldb: n,
                                             beta: -1, c: c, ldc: ldc)
                    var actual = c
                    a.withPointer { pa in packed.withPointer { pb in actual.withMutablePointer { pc in
                        sgemm(ta, m: m, n: n, k: k, alpha: 0.5, a: pa, lda: lda, packedB: pb, beta: -1, c: pc, ldc: ldc,
                              parallelism: Parallelism(threads: threads), kernel: kernel)
                    } } }
                    assertClose(actual, expected, atol: 1e-4, rtol: 1e-4, "sgemm packed B \(kernel) \(ta) m\(m) n\(n) k\(k)")
                }
            }
        }
    }

    func test_sgemm_whenBetaIsZero_ignoresNaNInC() {
        let (m, n, k) = (7, 40, 9)
        var rng = TestRandom(seed: 2)
        let a = rng.floats(m * k), b = rng.floats(k * n), c = [Float](repeating: .nan, count: m * n)
        for kernel in GemmKernel.available() {
            let out = run(.none, .none, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: n, beta: 0, c: c, ldc: n,
                          threads: 1, kernel: kernel)
            XCTAssertFalse(out.contains { $0.isNaN }, "sgemm \(kernel) read C although beta was 0")
        }
    }

    func test_sgemm_whenKIsZero_scalesCByBeta() {
        let c: [Float] = [1, 2, 3, 4]
        let out = run(.none, .none, m: 2, n: 2, k: 0, alpha: 1, a: [0], lda: 1, b: [0], ldb: 2, beta: 0.5, c: c, ldc: 2,
                      threads: 1, kernel: .best)
        XCTAssertEqual(out, [0.5, 1, 1.5, 2])
    }

    func test_sgemm_acrossThreadCounts_isBitwiseEqual() {
        var rng = TestRandom(seed: 3)
        let (m, n, k) = (131, 517, 301)
        let a = rng.floats(m * k), b = rng.floats(k * n), c = rng.floats(m * n)
        for kernel in GemmKernel.everyTile() {
            let one = run(.none, .transposed, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: k, beta: 1, c: c, ldc: n,
                          threads: 1, kernel: kernel)
            for threads in [2, 3, 8] {
                let many = run(.none, .transposed, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: k, beta: 1, c: c, ldc: n,
                               threads: threads, kernel: kernel)
                XCTAssertEqual(one, many, "sgemm \(kernel) with \(threads) threads differs from 1 thread")
            }
        }
    }

    func test_kernelSelection_followsCPUFlags() {
        let names = { (features: CPUFeatures) in GemmKernel.available(on: features).map(\.name) }
        XCTAssertEqual(names(CPUFeatures()), ["portable"])
        #if arch(x86_64)
        XCTAssertEqual(names(CPUFeatures(avx2: true, fma: true)), ["avx2", "portable"])
        XCTAssertEqual(names(CPUFeatures(avx2: true, fma: true, avx512f: true)), ["avx512", "avx2", "portable"])
        XCTAssertEqual(names(CPUFeatures(avx2: true, fma: false)), ["portable"])
        #endif
        let parsed = CPUFeatures(cpuinfo: "processor\t: 0\nflags\t\t: fpu sse2 avx2 fma avx512f avx512bw\n")
        XCTAssertEqual(parsed, CPUFeatures(avx2: true, fma: true, avx512f: true))
    }

    /// The AVX-512 tiles take the deeper, row-wise blocking only with a 48 KiB L1 and a 2 MiB L2
    /// (Emerald Rapids), not with Zen 4's 32 KiB and 1 MiB nor Zen 5's 48 KiB and 1 MiB; the
    /// sizes come from sysfs's cache entries.
    func test_kernelSelection_followsCacheSizes() {
        var emeraldRapids = CPUFeatures(avx2: true, fma: true, avx512f: true)
        emeraldRapids.setCaches([("1", "Data\n", "48K\n"), ("1", "Instruction", "32K"), ("2", "Unified", "2048K"),
                                 ("3", "Unified", "266240K"), ("2", "Unified", "not a size")])
        XCTAssertEqual(emeraldRapids.level1DataCache, 48 << 10)
        XCTAssertEqual(emeraldRapids.level2Cache, 2 << 20)
        let zen4 = CPUFeatures(avx2: true, fma: true, avx512f: true, level1DataCache: 32 << 10, level2Cache: 1 << 20)
        let zen5 = CPUFeatures(avx2: true, fma: true, avx512f: true, level1DataCache: 48 << 10, level2Cache: 1 << 20)
        #if arch(x86_64)
        let large = GemmKernel.available(on: emeraldRapids)[0]
        XCTAssertEqual([large.name, "\(large.kc)", "\(large.order)"], ["avx512", "384", "alongRows"])
        XCTAssertEqual(large.otherHeights.map(\.kc), [384])
        for features in [zen4, zen5, CPUFeatures(avx2: true, fma: true, avx512f: true)] {
            let kernel = GemmKernel.available(on: features)[0]
            XCTAssertEqual([kernel.name, "\(kernel.kc)", "\(kernel.order)"], ["avx512", "256", "downColumns"], "\(features)")
        }
        XCTAssertEqual(GemmKernel.available(on: emeraldRapids)[1].kc, 256, "the AVX2 tile keeps its blocking")
        #endif
        XCTAssertEqual(["48K", "1M", "512", " 2048K\n", "0K", "K", "-4K", "9999999999999M"].map(CPUFeatures.cacheBytes),
                       [48 << 10, 1 << 20, 512, 2 << 20, nil, nil, nil, nil])
    }

    func test_kernelFromEnvironment_whenUnknownName_saysWhatExists() {
        XCTAssertThrowsError(try GemmKernel.fromEnvironment(["AUGERINO_GEMM_KERNEL": "sse9"])) { error in
            let text = String(describing: error)
            XCTAssertTrue(text.contains("AUGERINO_GEMM_KERNEL") && text.contains("sse9") && text.contains("portable"), text)
        }
        XCTAssertEqual(try GemmKernel.fromEnvironment(["AUGERINO_GEMM_KERNEL": "portable"]).name, "portable")
    }
}
