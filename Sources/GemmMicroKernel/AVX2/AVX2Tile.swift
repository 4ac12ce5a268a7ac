import GemmMicroKernel

/// The 6x16 tile compiled with `-target-cpu haswell` (AVX2 + FMA, 12 ymm accumulators).
/// Call it only when the CPU reports avx2 and fma.
public func avx2MicroKernel6x16(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                                c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float) {
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 2) { scale in
        scale[0] = alpha
        scale[1] = beta
        avx2MicroKernel6x16(kc: kc, a: a, b: b, c: c, ldc: ldc, scale: UnsafePointer(scale.baseAddress!))
    }
}

/// The tile proper, with alpha and beta in memory (see `gemmMicroKernel6x16`). Public and never
/// inlined so that the optimiser cannot turn `scale` back into two values held in registers.
@inline(never)
public func avx2MicroKernel6x16(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                                c: UnsafeMutablePointer<Float>, ldc: Int, scale: UnsafePointer<Float>) {
    gemmMicroKernel6x16(kc: kc, a: a, b: b, c: c, ldc: ldc, scale: scale)
}

/// `gemmMicroKernel6x16Gathered` compiled with -target-cpu haswell (alpha and beta in memory,
/// as for `avx2MicroKernel6x16`).
public func avx2MicroKernel6x16Gathered(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, offsets: UnsafePointer<Int>,
                                        c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float) {
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 2) { scale in
        scale[0] = alpha
        scale[1] = beta
        avx2MicroKernel6x16Gathered(kc: kc, a: a, b: b, offsets: offsets, c: c, ldc: ldc, scale: UnsafePointer(scale.baseAddress!))
    }
}

@inline(never)
public func avx2MicroKernel6x16Gathered(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, offsets: UnsafePointer<Int>,
                                        c: UnsafeMutablePointer<Float>, ldc: Int, scale: UnsafePointer<Float>) {
    gemmMicroKernel6x16Gathered(kc: kc, a: a, b: b, offsets: offsets, c: c, ldc: ldc, scale: scale)
}

/// `gemmPackA` compiled with -target-cpu haswell.
public func avx2PackA(transposed: Bool, _ a: UnsafePointer<Float>, lda: Int, i0: Int, mc: Int, p0: Int, kc: Int,
                     mr: Int, into dst: UnsafeMutablePointer<Float>) {
    gemmPackA(transposed: transposed, a, lda: lda, i0: i0, mc: mc, p0: p0, kc: kc, mr: mr, into: dst)
}

/// `gemmPackB` compiled with -target-cpu haswell.
public func avx2PackB(transposed: Bool, _ b: UnsafePointer<Float>, ldb: Int, p0: Int, kc: Int, j0: Int, nc: Int,
                     nr: Int, into dst: UnsafeMutablePointer<Float>) {
    gemmPackB(transposed: transposed, b, ldb: ldb, p0: p0, kc: kc, j0: j0, nc: nc, nr: nr, into: dst)
}
