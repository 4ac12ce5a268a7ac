/// The 6x16 tile compiled for the baseline of the target architecture: the fallback when the
/// CPU has neither AVX2+FMA nor AVX-512. x86-64's baseline (SSE2) has no FMA, so there the
/// tile multiplies and adds separately; aarch64's NEON fuses them.
public func portableMicroKernel6x16(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                                    c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float) {
    #if arch(x86_64)
    gemmMicroKernel6x16Unfused(kc: kc, a: a, b: b, c: c, ldc: ldc, alpha: alpha, beta: beta)
    #else
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 2) { scale in
        scale[0] = alpha
        scale[1] = beta
        gemmMicroKernel6x16(kc: kc, a: a, b: b, c: c, ldc: ldc, scale: UnsafePointer(scale.baseAddress!))
    }
    #endif
}

/// `gemmPackA` compiled with the platform baseline.
public func portablePackA(transposed: Bool, _ a: UnsafePointer<Float>, lda: Int, i0: Int, mc: Int, p0: Int, kc: Int,
                     mr: Int, into dst: UnsafeMutablePointer<Float>) {
    gemmPackA(transposed: transposed, a, lda: lda, i0: i0, mc: mc, p0: p0, kc: kc, mr: mr, into: dst)
}

/// `gemmPackB` compiled with the platform baseline.
public func portablePackB(transposed: Bool, _ b: UnsafePointer<Float>, ldb: Int, p0: Int, kc: Int, j0: Int, nc: Int,
                     nr: Int, into dst: UnsafeMutablePointer<Float>) {
    gemmPackB(transposed: transposed, b, ldb: ldb, p0: p0, kc: kc, j0: j0, nc: nc, nr: nr, into: dst)
}
