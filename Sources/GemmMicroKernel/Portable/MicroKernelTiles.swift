// The GEMM register tiles, written out in full (one accumulator per variable).
// They are @inlinable so that each instruction-set module (AVX2, AVX512) compiles them with its
// own -target-cpu; Kernels picks one at run time. Shape letters: MR rows of C, NR columns of C,
// kc steps of the shared dimension.

/// C[0..<6][0..<16] = alpha * (A panel · B panel) + beta * C, the 6x16 register tile.
///
/// - `a`: packed A micro-panel, `kc` steps of 6 floats (one per row of C).
/// - `b`: packed B micro-panel, `kc` steps of 16 floats (one per column of C), 64-byte aligned.
/// - `c`: row-major, row stride `ldc`; with `beta == 0` C is only written, never read.
/// The accumulators are spelled out so that they stay in registers.
///
/// `alpha` and `beta` are read from `scale` (scale[0], scale[1]) only after the loop: passed as
/// values they would hold two of the sixteen vector registers through it, and with the twelve
/// accumulators, two B vectors and the broadcast A value that is one too many (LLVM spilled an
/// accumulator to the stack on every step, and AVX2 ran at half speed).
@inlinable @inline(__always)
public func gemmMicroKernel6x16(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
    c: UnsafeMutablePointer<Float>, ldc: Int, scale: UnsafePointer<Float>) {
  gemmMicroKernel6x16(kc: kc, a: a, c: c, ldc: ldc, scale: scale) { p in UnsafeRawPointer(b) + p &* 64 }
}

/// The 6x16 tile with B read in place rather than packed: step p reads the 16 floats at
/// `b + offsets[p]` (any alignment), as `gemmMicroKernel12x32Gathered` does for AVX-512.
/// Otherwise as `gemmMicroKernel6x16`.
@inlinable @inline(__always)
public func gemmMicroKernel6x16Gathered(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, offsets: UnsafePointer<Int>,
    c: UnsafeMutablePointer<Float>, ldc: Int, scale: UnsafePointer<Float>) {
  gemmMicroKernel6x16(kc: kc, a: a, c: c, ldc: ldc, scale: scale) { p in UnsafeRawPointer(b) + offsets[p] &* 4 }
}

/// The 6x16 tile's body: step p's 16 B values start at `rowOfB(p)`.
@inlinable @inline(__always)
public func gemmMicroKernel6x16(kc: Int, a: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int,
    scale: UnsafePointer<Float>, rowOfB: (Int) -> UnsafeRawPointer) {
  typealias V = SIMD8<Float>
  var c0_0 = V(); var c0_1 = V()
  var c1_0 = V(); var c1_1 = V()
  var c2_0 = V(); var c2_1 = V()
  var c3_0 = V(); var c3_1 = V()
  var c4_0 = V(); var c4_1 = V()
  var c5_0 = V(); var c5_1 = V()
  var pa = a
  for p in 0..<kc {
    let pb = rowOfB(p)
    let b0 = pb.loadUnaligned(fromByteOffset: 0, as: V.self)
    let b1 = pb.loadUnaligned(fromByteOffset: 32, as: V.self)
    let a0 = V(repeating: pa[0])
    c0_0 = c0_0.addingProduct(a0, b0); c0_1 = c0_1.addingProduct(a0, b1)
    let a1 = V(repeating: pa[1])
    c1_0 = c1_0.addingProduct(a1, b0); c1_1 = c1_1.addingProduct(a1, b1)
    let a2 = V(repeating: pa[2])
    c2_0 = c2_0.addingProduct(a2, b0); c2_1 = c2_1.addingProduct(a2, b1)
    let a3 = V(repeating: pa[3])
    c3_0 = c3_0.addingProduct(a3, b0); c3_1 = c3_1.addingProduct(a3, b1)
    let a4 = V(repeating: pa[4])
    c4_0 = c4_0.addingProduct(a4, b0); c4_1 = c4_1.addingProduct(a4, b1)
    let a5 = V(repeating: pa[5])
    c5_0 = c5_0.addingProduct(a5, b0); c5_1 = c5_1.addingProduct(a5, b1)
    pa += 6
  }
  let alpha = scale[0], beta = scale[1]
  let va = V(repeating: alpha)
  if beta == 0 {
    do { let row = UnsafeMutableRawPointer(c + 0 * ldc)
      row.storeBytes(of: va * c0_0, toByteOffset: 0, as: V.self); row.storeBytes(of: va * c0_1, toByteOffset: 32, as: V.self) }
    do { let row = UnsafeMutableRawPointer(c + 1 * ldc)
      row.storeBytes(of: va * c1_0, toByteOffset: 0, as: V.self); row.storeBytes(of: va * c1_1, toByteOffset: 32, as: V.self) }
    do { let row = UnsafeMutableRawPointer(c + 2 * ldc)
      row.storeBytes(of: va * c2_0, toByteOffset: 0, as: V.self); row.storeBytes(of: va * c2_1, toByteOffset: 32, as: V.self) }
    do { let row = UnsafeMutableRawPointer(c + 3 * ldc)
      row.storeBytes(of: va * c3_0, toByteOffset: 0, as: V.self); row.storeBytes(of: va * c3_1, toByteOffset: 32, as: V.self) }
    do { let row = UnsafeMutableRawPointer(c + 4 * ldc)
      row.storeBytes(of: va * c4_0, toByteOffset: 0, as: V.self); row.storeBytes(of: va * c4_1, toByteOffset: 32, as: V.self) }
    do { let row = UnsafeMutableRawPointer(c + 5 * ldc)
      row.storeBytes(of: va * c5_0, toByteOffset: 0, as: V.self); row.storeBytes(of: va * c5_1, toByteOffset: 32, as: V.self) }
  } else {
    let vb = V(repeating: beta)
    do { let row = UnsafeMutableRawPointer(c + 0 * ldc)
      row.storeBytes(of: va * c0_0 + vb * row.loadUnaligned(fromByteOffset: 0, as: V.self), toByteOffset: 0, as: V.self)
      row.storeBytes(of: va * c0_1 + vb * row.loadUnaligned(fromByteOffset: 32, as: V.self), toByteOffset: 32, as: V.self)
    }
    do { let row = UnsafeMutableRawPointer(c + 1 * ldc)
      row.storeBytes(of: va * c1_0 + vb * row.loadUnaligned(fromByteOffset: 0, as: V.self), toByteOffset: 0, as: V.self)
      row.storeBytes(of: va * c1_1 + vb * row.loadUnaligned(fromByteOffset: 32, as: V.self), toByteOffset: 32, as: V.self)
    }
    do { let row = UnsafeMutableRawPointer(c + 2 * ldc)
      row.storeBytes(of: va * c2_0 + vb * row.loadUnaligned(fromByteOffset: 0, as: V.self), toByteOffset: 0, as: V.self)
      row.storeBytes(of: va * c2_1 + vb * row.loadUnaligned(fromByteOffset: 32, as: V.self), toByteOffset: 32, as: V.self)
    }
    do { let row = UnsafeMutableRawPointer(c + 3 * ldc)
      row.storeBytes(of: va * c3_0 + vb * row.loadUnaligned(fromByteOffset: 0, as: V.self), toByteOffset: 0, as: V.self)
      row.storeBytes(of: va * c3_1 + vb * row.loadUnaligned(fromByteOffset: 32, as: V.self), toByteOffset: 32, as: V.self)
    }
    do { let row = UnsafeMutableRawPointer(c + 4 * ldc)
      row.storeBytes(of: va * c4_0 + vb * row.loadUnaligned(fromByteOffset: 0, as: V.self), toByteOffset: 0, as: V.self)
      row.storeBytes(of: va * c4_1 + vb * row.loadUnaligned(fromByteOffset: 32, as: V.self), toByteOffset: 32, as: V.self)
    }
    do { let row = UnsafeMutableRawPointer(c + 5 * ldc)
      row.storeBytes(of: va * c5_0 + vb * row.loadUnaligned(fromByteOffset: 0, as: V.self), toByteOffset: 0, as: V.self)
      row.storeBytes(of: va * c5_1 + vb * row.loadUnaligned(fromByteOffset: 32, as: V.self), toByteOffset: 32, as: V.self)
    }
  }
}

/// C[0..<6][0..<16] = alpha * (A panel · B panel) + beta * C, the 6x16 register tile.
///
/// - `a`: packed A micro-panel, `kc` steps of 6 floats (one per row of C).
/// - `b`: packed B micro-panel, `kc` steps of 16 floats (one per column of C), 64-byte aligned.
/// - `c`: row-major, row stride `ldc`; with `beta == 0` C is only written, never read.
/// The accumulators are spelled out so that they stay in registers.
/// Multiplies and adds separately: for CPUs without FMA, where a fused multiply-add would
/// be a library call per lane.
@inlinable @inline(__always)
public func gemmMicroKernel6x16Unfused(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
    c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float) {
  typealias V = SIMD8<Float>
  var c0_0 = V(); var c0_1 = V()
  var c1_0 = V(); var c1_1 = V()
  var c2_0 = V(); var c2_1 = V()
  var c3_0 = V(); var c3_1 = V()
  var c4_0 = V(); var c4_1 = V()
  var c5_0 = V(); var c5_1 = V()
  var pa = a
  var pb = UnsafeRawPointer(b)
  for _ in 0..<kc {
    let b0 = pb.load(fromByteOffset: 0, as: V.self)
    let b1 = pb.load(fromByteOffset: 32, as: V.self)
    let a0 = V(repeating: pa[0])
    c0_0 += a0 * b0; c0_1 += a0 * b1
    let a1 = V(repeating: pa[1])
    c1_0 += a1 * b0; c1_1 += a1 * b1
    let a2 = V(repeating: pa[2])
    c2_0 += a2 * b0; c2_1 += a2 * b1
    let a3 = V(repeating: pa[3])
    c3_0 += a3 * b0; c3_1 += a3 * b1
    let a4 = V(repeating: pa[4])
    c4_0 += a4 * b0; c4_1 += a4 * b1
    let a5 = V(repeating: pa[5])
    c5_0 += a5 * b0; c5_1 += a5 * b1
    pa += 6
    pb += 64
  }
  let va = V(repeating: alpha)
  if beta == 0 {
    do { let row = UnsafeMutableRawPointer(c + 0 * ldc)
      row.storeBytes(of: va * c0_0, toByteOffset: 0, as: V.self); row.storeBytes(of: va * c0_1, toByteOffset: 32, as: V.self) }
    do { let row = UnsafeMutableRawPointer(c + 1 * ldc)
      row.storeBytes(of: va * c1_0, toByteOffset: 0, as: V.self); row.storeBytes(of: va * c1_1, toByteOffset: 32, as: V.self) }
    do { let row = UnsafeMutableRawPointer(c + 2 * ldc)
      row.storeBytes(of: va * c2_0, toByteOffset: 0, as: V.self); row.storeBytes(of: va * c2_1, toByteOffset: 32, as: V.self) }
    do { let row = UnsafeMutableRawPointer(c + 3 * ldc)
      row.storeBytes(of: va * c3_0, toByteOffset: 0, as: V.self); row.storeBytes(of: va * c3_1, toByteOffset: 32, as: V.self) }
    do { let row = UnsafeMutableRawPointer(c + 4 * ldc)
      row.storeBytes(of: va * c4_0, toByteOffset: 0, as: V.self); row.storeBytes(of: va * c4_1, toByteOffset: 32, as: V.self) }
    do { let row = UnsafeMutableRawPointer(c + 5 * ldc)
      row.storeBytes(of: va * c5_0, toByteOffset: 0, as: V.self); row.storeBytes(of: va * c5_1, toByteOffset: 32, as: V.self) }
  } else {
    let vb = V(repeating: beta)
    do { let row = UnsafeMutableRawPointer(c + 0 * ldc)
      row.storeBytes(of: va * c0_0 + vb * row.loadUnaligned(fromByteOffset: 0, as: V.self), toByteOffset: 0, as: V.self)
      row.storeBytes(of: va * c0_1 + vb * row.loadUnaligned(fromByteOffset: 32, as: V.self), toByteOffset: 32, as: V.self)
    }
    do { let row = UnsafeMutableRawPointer(c + 1 * ldc)
      row.storeBytes(of: va * c1_0 + vb * row.loadUnaligned(fromByteOffset: 0, as: V.self), toByteOffset: 0, as: V.self)
      row.storeBytes(of: va * c1_1 + vb * row.loadUnaligned(fromByteOffset: 32, as: V.self), toByteOffset: 32, as: V.self)
    }
    do { let row = UnsafeMutableRawPointer(c + 2 * ldc)
      row.storeBytes(of: va * c2_0 + vb * row.loadUnaligned(fromByteOffset: 0, as: V.self), toByteOffset: 0, as: V.self)
      row.storeBytes(of: va * c2_1 + vb * row.loadUnaligned(fromByteOffset: 32, as: V.self), toByteOffset: 32, as: V.self)
    }
    do { let row = UnsafeMutableRawPointer(c + 3 * ldc)
      row.storeBytes(of: va * c3_0 + vb * row.loadUnaligned(fromByteOffset: 0, as: V.self), toByteOffset: 0, as: V.self)
      row.storeBytes(of: va * c3_1 + vb * row.loadUnaligned(fromByteOffset: 32, as: V.self), toByteOffset: 32, as: V.self)
    }
    do { let row = UnsafeMutableRawPointer(c + 4 * ldc)
      row.storeBytes(of: va * c4_0 + vb * row.loadUnaligned(fromByteOffset: 0, as: V.self), toByteOffset: 0, as: V.self)
      row.storeBytes(of: va * c4_1 + vb * row.loadUnaligned(fromByteOffset: 32, as: V.self), toByteOffset: 32, as: V.self)
    }
    do { let row = UnsafeMutableRawPointer(c + 5 * ldc)
      row.storeBytes(of: va * c5_0 + vb * row.loadUnaligned(fromByteOffset: 0, as: V.self), toByteOffset: 0, as: V.self)
      row.storeBytes(of: va * c5_1 + vb * row.loadUnaligned(fromByteOffset: 32, as: V.self), toByteOffset: 32, as: V.self)
    }
  }
}

/// C[0..<12][0..<32] = alpha * (A panel · B panel) + beta * C, the 12x32 register tile.
///
/// - `a`: packed A micro-panel, `kc` steps of 12 floats (one per row of C).
/// - `b`: packed B micro-panel, `kc` steps of 32 floats (one per column of C), 64-byte aligned.
/// - `c`: row-major, row stride `ldc`; with `beta == 0` C is only written, never read.
/// The accumulators are spelled out so that they stay in registers.
@inlinable @inline(__always)
public func gemmMicroKernel12x32(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
    c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float) {
  gemmMicroKernel12x32(kc: kc, a: a, c: c, ldc: ldc, alpha: alpha, beta: beta) { p in UnsafeRawPointer(b) + p &* 128 }
}

/// The 12x32 tile with B read in place rather than packed: step p reads the 32 floats at
/// `b + offsets[p]` (any alignment). A convolution over a zero-padded input uses it with
/// offsets (c, r, s) ↦ channel plane + row and column shift, so that the input itself is the
/// B operand and no im2col matrix is written. Otherwise as `gemmMicroKernel12x32`.
@inlinable @inline(__always)
public func gemmMicroKernel12x32Gathered(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, offsets: UnsafePointer<Int>,
    c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float) {
  gemmMicroKernel12x32(kc: kc, a: a, c: c, ldc: ldc, alpha: alpha, beta: beta) { p in UnsafeRawPointer(b) + offsets[p] &* 4 }
}

/// The 12x32 tile's body: step p's 32 B values start at `rowOfB(p)` (any alignment).
@inlinable @inline(__always)
public func gemmMicroKernel12x32(kc: Int, a: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int,
    alpha: Float, beta: Float, rowOfB: (Int) -> UnsafeRawPointer) {
  typealias V = SIMD16<Float>
  var c0_0 = V(); var c0_1 = V()
  var c1_0 = V(); var c1_1 = V()
  var c2_0 = V(); var c2_1 = V()
  var c3_0 = V(); var c3_1 = V()
  var c4_0 = V(); var c4_1 = V()
  var c5_0 = V(); var c5_1 = V()
  var c6_0 = V(); var c6_1 = V()
  var c7_0 = V(); var c7_1 = V()
  var c8_0 = V(); var c8_1 = V()
  var c9_0 = V(); var c9_1 = V()
  var c10_0 = V(); var c10_1 = V()
  var c11_0 = V(); var c11_1 = V()
  var pa = a
  for p in 0..<kc {
    let pb = rowOfB(p)
    let b0 = pb.loadUnaligned(fromByteOffset: 0, as: V.self)
    let b1 = pb.loadUnaligned(fromByteOffset: 64, as: V.self)
    let a0 = V(repeating: pa[0])
    c0_0 = c0_0.addingProduct(a0, b0); c0_1 = c0_1.addingProduct(a0, b1)
    let a1 = V(repeating: pa[1])
    c1_0 = c1_0.addingProduct(a1, b0); c1_1 = c1_1.addingProduct(a1, b1)
    let a2 = V(repeating: pa[2])
    c2_0 = c2_0.addingProduct(a2, b0); c2_1 = c2_1.addingProduct(a2, b1)
    let a3 = V(repeating: pa[3])
    c3_0 = c3_0.addingProduct(a3, b0); c3_1 = c3_1.addingProduct(a3, b1)
    let a4 = V(repeating: pa[4])
    c4_0 = c4_0.addingProduct(a4, b0); c4_1 = c4_1.addingProduct(a4, b1)
    let a5 = V(repeating: pa[5])
    c5_0 = c5_0.addingProduct(a5, b0); c5_1 = c5_1.addingProduct(a5, b1)
    let a6 = V(repeating: pa[6])
    c6_0 = c6_0.addingProduct(a6, b0); c6_1 = c6_1.addingProduct(a6, b1)
    let a7 = V(repeating: pa[7])
    c7_0 = c7_0.addingProduct(a7, b0); c7_1 = c7_1.addingProduct(a7, b1)
    let a8 = V(repeating: pa[8])
    c8_0 = c8_0.addingProduct(a8, b0); c8_1 = c8_1.addingProduct(a8, b1)
    let a9 = V(repeating: pa[9])
    c9_0 = c9_0.addingProduct(a9, b0); c9_1 = c9_1.addingProduct(a9, b1)
    let a10 = V(repeating: pa[10])
    c10_0 = c10_0.addingProduct(a10, b0); c10_1 = c10_1.addingProduct(a10, b1)
    let a11 = V(repeating: pa[11])
    c11_0 = c11_0.addingProduct(a11, b0); c11_1 = c11_1.addingProduct(a11, b1)
    pa += 12
  }
  let va = V(repeating: alpha)
  if beta == 0 {
    do { let row = UnsafeMutableRawPointer(c + 0 * ldc)
      row.storeBytes(of: va * c0_0, toByteOffset: 0, as: V.self); row.storeBytes(of: va * c0_1, toByteOffset: 64, as: V.self) }
    do { let row = UnsafeMutableRawPointer(c + 1 * ldc)
      row.storeBytes(of: va * c1_0, toByteOffset: 0, as: V.self); row.storeBytes(of: va * c1_1, toByteOffset: 64, as: V.self) }
    do { let row = UnsafeMutableRawPointer(c + 2 * ldc)
      row.storeBytes(of: va * c2_0, toByteOffset: 0, as: V.self); row.storeBytes(of: va * c2_1, toByteOffset: 64, as: V.self) }
    do { let row = UnsafeMutableRawPointer(c + 3 * ldc)
      row.storeBytes(of: va * c3_0, toByteOffset: 0, as: V.self); row.storeBytes(of: va * c3_1, toByteOffset: 64, as: V.self) }
    do { let row = UnsafeMutableRawPointer(c + 4 * ldc)
      row.storeBytes(of: va * c4_0, toByteOffset: 0, as: V.self); row.storeBytes(of: va * c4_1, toByteOffset: 64, as: V.self) }
    do { let row = UnsafeMutableRawPointer(c + 5 * ldc)
      row.storeBytes(of: va * c5_0, toByteOffset: 0, as: V.self); row.storeBytes(of: va * c5_1, toByteOffset: 64, as: V.self) }
    do { let row = UnsafeMutableRawPointer(c + 6 * ldc)
      row.storeBytes(of: va * c6_0, toByteOffset: 0, as: V.self); row.storeBytes(of: va * c6_1, toByteOffset: 64, as: V.self) }
    do { let row = UnsafeMutableRawPointer(c + 7 * ldc)
      row.storeBytes(of: va * c7_0, toByteOffset: 0, as: V.self); row.storeBytes(of: va * c7_1, toByteOffset: 64, as: V.self) }
    do { let row = UnsafeMutableRawPointer(c + 8 * ldc)
      row.storeBytes(of: va * c8_0, toByteOffset: 0, as: V.self); row.storeBytes(of: va * c8_1, toByteOffset: 64, as: V.self) }
    do { let row = UnsafeMutableRawPointer(c + 9 * ldc)
      row.storeBytes(of: va * c9_0, toByteOffset: 0, as: V.self); row.storeBytes(of: va * c9_1, toByteOffset: 64, as: V.self) }
    do { let row = UnsafeMutableRawPointer(c + 10 * ldc)
      row.storeBytes(of: va * c10_0, toByteOffset: 0, as: V.self); row.storeBytes(of: va * c10_1, toByteOffset: 64, as: V.self) }
    do { let row = UnsafeMutableRawPointer(c + 11 * ldc)
      row.storeBytes(of: va * c11_0, toByteOffset: 0, as: V.self); row.storeBytes(of: va * c11_1, toByteOffset: 64, as: V.self) }
  } else {
    let vb = V(repeating: beta)
    do { let row = UnsafeMutableRawPointer(c + 0 * ldc)
      row.storeBytes(of: va * c0_0 + vb * row.loadUnaligned(fromByteOffset: 0, as: V.self), toByteOffset: 0, as: V.self)
      row.storeBytes(of: va * c0_1 + vb * row.loadUnaligned(fromByteOffset: 64, as: V.self), toByteOffset: 64, as: V.self)
    }
    do { let row = UnsafeMutableRawPointer(c + 1 * ldc)
      row.storeBytes(of: va * c1_0 + vb * row.loadUnaligned(fromByteOffset: 0, as: V.self), toByteOffset: 0, as: V.self)
      row.storeBytes(of: va * c1_1 + vb * row.loadUnaligned(fromByteOffset: 64, as: V.self), toByteOffset: 64, as: V.self)
    }
    do { let row = UnsafeMutableRawPointer(c + 2 * ldc)
      row.storeBytes(of: va * c2_0 + vb * row.loadUnaligned(fromByteOffset: 0, as: V.self), toByteOffset: 0, as: V.self)
      row.storeBytes(of: va * c2_1 + vb * row.loadUnaligned(fromByteOffset: 64, as: V.self), toByteOffset: 64, as: V.self)
    }
    do { let row = UnsafeMutableRawPointer(c + 3 * ldc)
      row.storeBytes(of: va * c3_0 + vb * row.loadUnaligned(fromByteOffset: 0, as: V.self), toByteOffset: 0, as: V.self)
      row.storeBytes(of: va * c3_1 + vb * row.loadUnaligned(fromByteOffset: 64, as: V.self), toByteOffset: 64, as: V.self)
    }
    do { let row = UnsafeMutableRawPointer(c + 4 * ldc)
      row.storeBytes(of: va * c4_0 + vb * row.loadUnaligned(fromByteOffset: 0, as: V.self), toByteOffset: 0, as: V.self)
      row.storeBytes(of: va * c4_1 + vb * row.loadUnaligned(fromByteOffset: 64, as: V.self), toByteOffset: 64, as: V.self)
    }
    do { let row = UnsafeMutableRawPointer(c + 5 * ldc)
      row.storeBytes(of: va * c5_0 + vb * row.loadUnaligned(fromByteOffset: 0, as: V.self), toByteOffset: 0, as: V.self)
      row.storeBytes(of: va * c5_1 + vb * row.loadUnaligned(fromByteOffset: 64, as: V.self), toByteOffset: 64, as: V.self)
    }
    do { let row = UnsafeMutableRawPointer(c + 6 * ldc)
      row.storeBytes(of: va * c6_0 + vb * row.loadUnaligned(fromByteOffset: 0, as: V.self), toByteOffset: 0, as: V.self)
      row.storeBytes(of: va * c6_1 + vb * row.loadUnaligned(fromByteOffset: 64, as: V.self), toByteOffset: 64, as: V.self)
    }
    do { let row = UnsafeMutableRawPointer(c + 7 * ldc)
      row.storeBytes(of: va * c7_0 + vb * row.loadUnaligned(fromByteOffset: 0, as: V.self), toByteOffset: 0, as: V.self)
      row.storeBytes(of: va * c7_1 + vb * row.loadUnaligned(fromByteOffset: 64, as: V.self), toByteOffset: 64, as: V.self)
    }
    do { let row = UnsafeMutableRawPointer(c + 8 * ldc)
      row.storeBytes(of: va * c8_0 + vb * row.loadUnaligned(fromByteOffset: 0, as: V.self), toByteOffset: 0, as: V.self)
      row.storeBytes(of: va * c8_1 + vb * row.loadUnaligned(fromByteOffset: 64, as: V.self), toByteOffset: 64, as: V.self)
    }
    do { let row = UnsafeMutableRawPointer(c + 9 * ldc)
      row.storeBytes(of: va * c9_0 + vb * row.loadUnaligned(fromByteOffset: 0, as: V.self), toByteOffset: 0, as: V.self)
      row.storeBytes(of: va * c9_1 + vb * row.loadUnaligned(fromByteOffset: 64, as: V.self), toByteOffset: 64, as: V.self)
    }
    do { let row = UnsafeMutableRawPointer(c + 10 * ldc)
      row.storeBytes(of: va * c10_0 + vb * row.loadUnaligned(fromByteOffset: 0, as: V.self), toByteOffset: 0, as: V.self)
      row.storeBytes(of: va * c10_1 + vb * row.loadUnaligned(fromByteOffset: 64, as: V.self), toByteOffset: 64, as: V.self)
    }
    do { let row = UnsafeMutableRawPointer(c + 11 * ldc)
      row.storeBytes(of: va * c11_0 + vb * row.loadUnaligned(fromByteOffset: 0, as: V.self), toByteOffset: 0, as: V.self)
      row.storeBytes(of: va * c11_1 + vb * row.loadUnaligned(fromByteOffset: 64, as: V.self), toByteOffset: 64, as: V.self)
    }
  }
}

/// C[0..<8][0..<32] = alpha * (A panel · B panel) + beta * C, the 8x32 register tile (16 zmm
/// accumulators): for products whose row count is a multiple of 8 but not of 12 (32 or 64
/// filters), where the 12x32 tile would multiply a ninth of its rows by zero padding (36 or 72).
/// Operands as `gemmMicroKernel12x32`'s, A in steps of 8 floats.
@inlinable @inline(__always)
public func gemmMicroKernel8x32(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
    c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float) {
  gemmMicroKernel8x32(kc: kc, a: a, c: c, ldc: ldc, alpha: alpha, beta: beta) { p in UnsafeRawPointer(b) + p &* 128 }
}

/// The 8x32 tile with B read in place, as `gemmMicroKernel12x32Gathered`.
@inlinable @inline(__always)
public func gemmMicroKernel8x32Gathered(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, offsets: UnsafePointer<Int>,
    c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float) {
  gemmMicroKernel8x32(kc: kc, a: a, c: c, ldc: ldc, alpha: alpha, beta: beta) { p in UnsafeRawPointer(b) + offsets[p] &* 4 }
}

/// The 8x32 tile's body: C[0..<8][0..<32] = alpha·(A panel · B) + beta·C, A packed in steps of
/// 8 floats, step p's 32 B values starting at `rowOfB(p)` (any alignment).
@inlinable @inline(__always)
public func gemmMicroKernel8x32(kc: Int, a: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int,
    alpha: Float, beta: Float, rowOfB: (Int) -> UnsafeRawPointer) {
  typealias V = SIMD16<Float>
  var c0_0 = V(); var c0_1 = V()
  var c1_0 = V(); var c1_1 = V()
  var c2_0 = V(); var c2_1 = V()
  var c3_0 = V(); var c3_1 = V()
  var c4_0 = V(); var c4_1 = V()
  var c5_0 = V(); var c5_1 = V()
  var c6_0 = V(); var c6_1 = V()
  var c7_0 = V(); var c7_1 = V()
  var pa = a
  for p in 0..<kc {
    let pb = rowOfB(p)
    let b0 = pb.loadUnaligned(fromByteOffset: 0, as: V.self)
    let b1 = pb.loadUnaligned(fromByteOffset: 64, as: V.self)
    let a0 = V(repeating: pa[0])
    c0_0 = c0_0.addingProduct(a0, b0); c0_1 = c0_1.addingProduct(a0, b1)
    let a1 = V(repeating: pa[1])
    c1_0 = c1_0.addingProduct(a1, b0); c1_1 = c1_1.addingProduct(a1, b1)
    let a2 = V(repeating: pa[2])
    c2_0 = c2_0.addingProduct(a2, b0); c2_1 = c2_1.addingProduct(a2, b1)
    let a3 = V(repeating: pa[3])
    c3_0 = c3_0.addingProduct(a3, b0); c3_1 = c3_1.addingProduct(a3, b1)
    let a4 = V(repeating: pa[4])
    c4_0 = c4_0.addingProduct(a4, b0); c4_1 = c4_1.addingProduct(a4, b1)
    let a5 = V(repeating: pa[5])
    c5_0 = c5_0.addingProduct(a5, b0); c5_1 = c5_1.addingProduct(a5, b1)
    let a6 = V(repeating: pa[6])
    c6_0 = c6_0.addingProduct(a6, b0); c6_1 = c6_1.addingProduct(a6, b1)
    let a7 = V(repeating: pa[7])
    c7_0 = c7_0.addingProduct(a7, b0); c7_1 = c7_1.addingProduct(a7, b1)
    pa += 8
  }
  let va = V(repeating: alpha)
  if beta == 0 {
    do { let row = UnsafeMutableRawPointer(c + 0 * ldc)
      row.storeBytes(of: va * c0_0, toByteOffset: 0, as: V.self); row.storeBytes(of: va * c0_1, toByteOffset: 64, as: V.self) }
    do { let row = UnsafeMutableRawPointer(c + 1 * ldc)
      row.storeBytes(of: va * c1_0, toByteOffset: 0, as: V.self); row.storeBytes(of: va * c1_1, toByteOffset: 64, as: V.self) }
    do { let row = UnsafeMutableRawPointer(c + 2 * ldc)
      row.storeBytes(of: va * c2_0, toByteOffset: 0, as: V.self); row.storeBytes(of: va * c2_1, toByteOffset: 64, as: V.self) }
    do { let row = UnsafeMutableRawPointer(c + 3 * ldc)
      row.storeBytes(of: va * c3_0, toByteOffset: 0, as: V.self); row.storeBytes(of: va * c3_1, toByteOffset: 64, as: V.self) }
    do { let row = UnsafeMutableRawPointer(c + 4 * ldc)
      row.storeBytes(of: va * c4_0, toByteOffset: 0, as: V.self); row.storeBytes(of: va * c4_1, toByteOffset: 64, as: V.self) }
    do { let row = UnsafeMutableRawPointer(c + 5 * ldc)
      row.storeBytes(of: va * c5_0, toByteOffset: 0, as: V.self); row.storeBytes(of: va * c5_1, toByteOffset: 64, as: V.self) }
    do { let row = UnsafeMutableRawPointer(c + 6 * ldc)
      row.storeBytes(of: va * c6_0, toByteOffset: 0, as: V.self); row.storeBytes(of: va * c6_1, toByteOffset: 64, as: V.self) }
    do { let row = UnsafeMutableRawPointer(c + 7 * ldc)
      row.storeBytes(of: va * c7_0, toByteOffset: 0, as: V.self); row.storeBytes(of: va * c7_1, toByteOffset: 64, as: V.self) }
  } else {
    let vb = V(repeating: beta)
    do { let row = UnsafeMutableRawPointer(c + 0 * ldc)
      row.storeBytes(of: va * c0_0 + vb * row.loadUnaligned(fromByteOffset: 0, as: V.self), toByteOffset: 0, as: V.self)
      row.storeBytes(of: va * c0_1 + vb * row.loadUnaligned(fromByteOffset: 64, as: V.self), toByteOffset: 64, as: V.self)
    }
    do { let row = UnsafeMutableRawPointer(c + 1 * ldc)
      row.storeBytes(of: va * c1_0 + vb * row.loadUnaligned(fromByteOffset: 0, as: V.self), toByteOffset: 0, as: V.self)
      row.storeBytes(of: va * c1_1 + vb * row.loadUnaligned(fromByteOffset: 64, as: V.self), toByteOffset: 64, as: V.self)
    }
    do { let row = UnsafeMutableRawPointer(c + 2 * ldc)
      row.storeBytes(of: va * c2_0 + vb * row.loadUnaligned(fromByteOffset: 0, as: V.self), toByteOffset: 0, as: V.self)
      row.storeBytes(of: va * c2_1 + vb * row.loadUnaligned(fromByteOffset: 64, as: V.self), toByteOffset: 64, as: V.self)
    }
    do { let row = UnsafeMutableRawPointer(c + 3 * ldc)
      row.storeBytes(of: va * c3_0 + vb * row.loadUnaligned(fromByteOffset: 0, as: V.self), toByteOffset: 0, as: V.self)
      row.storeBytes(of: va * c3_1 + vb * row.loadUnaligned(fromByteOffset: 64, as: V.self), toByteOffset: 64, as: V.self)
    }
    do { let row = UnsafeMutableRawPointer(c + 4 * ldc)
      row.storeBytes(of: va * c4_0 + vb * row.loadUnaligned(fromByteOffset: 0, as: V.self), toByteOffset: 0, as: V.self)
      row.storeBytes(of: va * c4_1 + vb * row.loadUnaligned(fromByteOffset: 64, as: V.self), toByteOffset: 64, as: V.self)
    }
    do { let row = UnsafeMutableRawPointer(c + 5 * ldc)
      row.storeBytes(of: va * c5_0 + vb * row.loadUnaligned(fromByteOffset: 0, as: V.self), toByteOffset: 0, as: V.self)
      row.storeBytes(of: va * c5_1 + vb * row.loadUnaligned(fromByteOffset: 64, as: V.self), toByteOffset: 64, as: V.self)
    }
    do { let row = UnsafeMutableRawPointer(c + 6 * ldc)
      row.storeBytes(of: va * c6_0 + vb * row.loadUnaligned(fromByteOffset: 0, as: V.self), toByteOffset: 0, as: V.self)
      row.storeBytes(of: va * c6_1 + vb * row.loadUnaligned(fromByteOffset: 64, as: V.self), toByteOffset: 64, as: V.self)
    }
    do { let row = UnsafeMutableRawPointer(c + 7 * ldc)
      row.storeBytes(of: va * c7_0 + vb * row.loadUnaligned(fromByteOffset: 0, as: V.self), toByteOffset: 0, as: V.self)
      row.storeBytes(of: va * c7_1 + vb * row.loadUnaligned(fromByteOffset: 64, as: V.self), toByteOffset: 64, as: V.self)
    }
  }
}
