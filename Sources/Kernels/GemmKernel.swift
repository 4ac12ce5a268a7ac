import Foundation
import GemmMicroKernel
import GemmMicroKernelAVX2
import GemmMicroKernelAVX512

/// One GEMM register tile, the packing that feeds it, and the cache blocking that suits it.
///
/// `tile(kc, a, b, c, ldc, alpha, beta)` computes an `mr`×`nr` tile of row-major C from packed
/// panels (see GemmMicroKernel/Portable/Packing.swift): C = alpha·A·B + beta·C, C not read when
/// beta is 0. `packA` and `packB` are that file's functions compiled for the same instruction set.
public struct GemmKernel: Sendable, CustomStringConvertible {
    public typealias Tile = @Sendable (Int, UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int, Float, Float) -> Void
    /// (transposed, a, lda, i0, mc, p0, kc, mr, into)
    typealias PackA = @Sendable (Bool, UnsafePointer<Float>, Int, Int, Int, Int, Int, Int, UnsafeMutablePointer<Float>) -> Void
    /// (transposed, b, ldb, p0, kc, j0, nc, nr, into)
    typealias PackB = @Sendable (Bool, UnsafePointer<Float>, Int, Int, Int, Int, Int, Int, UnsafeMutablePointer<Float>) -> Void

    /// Short name, as `bench gemm` prints it and `AUGERINO_GEMM_KERNEL` accepts it.
    public let name: String
    /// Rows of C per tile (A values broadcast per step).
    public let mr: Int
    /// Columns of C per tile (B values loaded as vectors per step).
    public let nr: Int
    /// Shared-dimension block: one B micro-panel (kc·nr floats) should stay in L1.
    public let kc: Int
    /// Rows of A packed at a time (mc·kc floats stay in L2).
    public let mc: Int
    /// Columns of B packed at a time (kc·nc floats stay in L2/L3).
    public let nc: Int
    /// The order in which the tile sweeps a packed block of C.
    public enum TileOrder: Sendable {
        /// Column panel by column panel, down the rows: one B micro-panel (kc·nr floats) stays in
        /// L1 while the A micro-panels stream from L2. C is visited 6 or 12 rows apart, a stride
        /// the hardware prefetcher does not follow.
        case downColumns
        /// Row panel by row panel, along the columns: one A micro-panel (kc·mr floats) stays in
        /// L1 while the B block streams from L2, and C is visited left to right, which the
        /// prefetcher follows. For tiles whose A micro-panel is small beside their B micro-panel.
        case alongRows
    }
    /// Measured per tile (docs/performance.md): the AVX-512 tile trains 5% faster down the
    /// columns; the AVX2 tile multiplies 1024³ matrices 10–20% faster along the rows.
    public let order: TileOrder

    let tile: Tile
    let packA: PackA
    let packB: PackB
    /// (kc, a, b, offsets, c, ldc, alpha, beta): the tile with B step p read at b + offsets[p]
    /// instead of packed; only where the instruction set has one (see `gemmMicroKernel12x32Gathered`).
    typealias GatheredTile = @Sendable (Int, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Int>, UnsafeMutablePointer<Float>, Int, Float, Float) -> Void
    var gatheredTile: GatheredTile? = nil
    /// The same instruction set's tiles of other heights (rows of C), for `fitting(rows:)`.
    var otherHeights: [GemmKernel] = []

    /// Of this tile and `otherHeights`, the one that pads `rows` rows of C the least (ties: this
    /// one): AVX-512 multiplies 32 or 64 filters with its 8x32 tile rather than padding the
    /// 12x32 one to 36 or 72 rows. Each has its own packing of A, so use the one returned
    /// throughout a product.
    func fitting(rows: Int) -> GemmKernel {
        func padding(_ kernel: GemmKernel) -> Int { (kernel.mr - rows % kernel.mr) % kernel.mr }
        return otherHeights.reduce(self) { padding($1) < padding($0) ? $1 : $0 }
    }

    public var description: String { "\(name) (\(mr)x\(nr), kc \(kc))" }

    /// 12x32 tile with AVX-512 (x86-64 only).
    public static let avx512 = GemmKernel(name: "avx512", mr: 12, nr: 32, kc: 256, mc: 240, nc: 512, order: .downColumns,
                                          tile: { avx512MicroKernel12x32(kc: $0, a: $1, b: $2, c: $3, ldc: $4, alpha: $5, beta: $6) },
                                          packA: { avx512PackA(transposed: $0, $1, lda: $2, i0: $3, mc: $4, p0: $5, kc: $6, mr: $7, into: $8) },
                                          packB: { avx512PackB(transposed: $0, $1, ldb: $2, p0: $3, kc: $4, j0: $5, nc: $6, nr: $7, into: $8) },
                                          gatheredTile: { avx512MicroKernel12x32Gathered(kc: $0, a: $1, b: $2, offsets: $3, c: $4, ldc: $5, alpha: $6, beta: $7) },
                                          otherHeights: [.avx512Rows8])
    /// 8x32 tile with AVX-512, for row counts it pads less than the 12x32 tile does (32, 64, 128
    /// or 256 filters). Not offered by name: `avx512` hands products to it through `fitting(rows:)`.
    static let avx512Rows8 = GemmKernel(name: "avx512", mr: 8, nr: 32, kc: 256, mc: 240, nc: 512, order: .downColumns,
                                        tile: { avx512MicroKernel8x32(kc: $0, a: $1, b: $2, c: $3, ldc: $4, alpha: $5, beta: $6) },
                                        packA: { avx512PackA(transposed: $0, $1, lda: $2, i0: $3, mc: $4, p0: $5, kc: $6, mr: $7, into: $8) },
                                        packB: { avx512PackB(transposed: $0, $1, ldb: $2, p0: $3, kc: $4, j0: $5, nc: $6, nr: $7, into: $8) },
                                        gatheredTile: { avx512MicroKernel8x32Gathered(kc: $0, a: $1, b: $2, offsets: $3, c: $4, ldc: $5, alpha: $6, beta: $7) })
    /// 6x16 tile with AVX2 and FMA (x86-64 only).
    public static let avx2 = GemmKernel(name: "avx2", mr: 6, nr: 16, kc: 256, mc: 120, nc: 512, order: .alongRows,
                                        tile: { avx2MicroKernel6x16(kc: $0, a: $1, b: $2, c: $3, ldc: $4, alpha: $5, beta: $6) },
                                          packA: { avx2PackA(transposed: $0, $1, lda: $2, i0: $3, mc: $4, p0: $5, kc: $6, mr: $7, into: $8) },
                                          packB: { avx2PackB(transposed: $0, $1, ldb: $2, p0: $3, kc: $4, j0: $5, nc: $6, nr: $7, into: $8) },
                                        gatheredTile: { avx2MicroKernel6x16Gathered(kc: $0, a: $1, b: $2, offsets: $3, c: $4, ldc: $5, alpha: $6, beta: $7) })
    /// 6x16 tile with the architecture's baseline vectors (SSE2 on x86-64, NEON on aarch64).
    public static let portable = GemmKernel(name: "portable", mr: 6, nr: 16, kc: 256, mc: 120, nc: 512, order: .alongRows,
                                            tile: { portableMicroKernel6x16(kc: $0, a: $1, b: $2, c: $3, ldc: $4, alpha: $5, beta: $6) },
                                          packA: { portablePackA(transposed: $0, $1, lda: $2, i0: $3, mc: $4, p0: $5, kc: $6, mr: $7, into: $8) },
                                          packB: { portablePackB(transposed: $0, $1, ldb: $2, p0: $3, kc: $4, j0: $5, nc: $6, nr: $7, into: $8) })

    /// This tile and its other heights with a deeper shared-dimension block swept along the rows:
    /// the blocking of the AVX-512 tiles where the caches are large (`suitsLargeCacheBlocking`).
    /// kc 384 makes the A micro-panel 18 KiB, which stays in L1 while the tile sweeps along the
    /// rows (C written left to right, a stride the prefetcher follows), and each tile reads and
    /// writes its block of C once per 384 steps instead of 256.
    func largeCacheBlocking() -> GemmKernel {
        GemmKernel(name: name, mr: mr, nr: nr, kc: 384, mc: mc, nc: nc, order: .alongRows, tile: tile, packA: packA, packB: packB,
                   gatheredTile: gatheredTile, otherHeights: otherHeights.map { $0.largeCacheBlocking() })
    }

    /// Whether the AVX-512 tiles take `largeCacheBlocking()` on this CPU: a level-1 data cache
    /// of at least 48 KiB and a level-2 cache of at least 2 MiB (Intel Sapphire and Emerald Rapids;
    /// not AMD Zen 4, whose 32 KiB L1 the default blocking was measured on, nor Zen 5, whose 1 MiB
    /// L2 holds little more than one 384 × 512 block of B). On an Emerald Rapids Xeon (family 6
    /// model 207) SGEMM 1024³ measured 291–300 GFLOP/s at best with it against 254–285 without,
    /// OpenBLAS 307–308 (docs/performance.md, session 33).
    static func suitsLargeCacheBlocking(_ features: CPUFeatures) -> Bool {
        features.level1DataCache >= 48 << 10 && features.level2Cache >= 2 << 20
    }

    /// The tiles this CPU can run, best first.
    public static func available(on features: CPUFeatures = .current) -> [GemmKernel] {
        var kernels: [GemmKernel] = []
        #if arch(x86_64)
        if features.avx512f && features.avx2 && features.fma {
            kernels.append(suitsLargeCacheBlocking(features) ? avx512.largeCacheBlocking() : .avx512)
        }
        if features.avx2 && features.fma { kernels.append(.avx2) }
        #endif
        kernels.append(.portable)
        return kernels
    }

    /// Every tile this CPU can run, the other heights included, and the AVX-512 tiles with both
    /// blockings whatever the caches (what the tests exercise).
    static func everyTile(on features: CPUFeatures = .current) -> [GemmKernel] {
        var kernels = available(on: features)
        #if arch(x86_64)
        if features.avx512f && features.avx2 && features.fma {
            kernels += suitsLargeCacheBlocking(features) ? [.avx512] : [avx512.largeCacheBlocking()]
        }
        #endif
        return kernels.flatMap { [$0] + $0.otherHeights }
    }

    /// The best tile for this CPU, or the one named by `AUGERINO_GEMM_KERNEL`.
    /// - Throws: `KernelError.unknownMicroKernel` when the variable names a tile this CPU lacks.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> GemmKernel {
        let kernels = available()
        guard let wanted = environment["AUGERINO_GEMM_KERNEL"], !wanted.isEmpty else { return kernels[0] }
        guard let kernel = kernels.first(where: { $0.name == wanted }) else {
            throw KernelError.unknownMicroKernel(source: "AUGERINO_GEMM_KERNEL", value: wanted, available: kernels.map(\.name))
        }
        return kernel
    }

    /// The best tile for the CPU this process runs on.
    public static let best: GemmKernel = available()[0]

    /// The tile `sgemm` uses unless told otherwise: the one `AUGERINO_GEMM_KERNEL` names, else
    /// the best. (A name this CPU lacks falls back to the best here; the command line reports it
    /// as an error before any work starts, through `fromEnvironment`.)
    public static let selected: GemmKernel = (try? fromEnvironment()) ?? best
}
