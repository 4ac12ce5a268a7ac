// Fast, deterministic sums for the reductions inside kernels: 4 vector accumulators over
// 16-float blocks, combined in a fixed order, then the tail. The order depends only on the
// length, never on threads, so results are reproducible; they differ from a naive left-to-right
// sum by rounding only.

/// Σ x[0..<count].
@inline(__always)
func vectorSum(_ x: UnsafePointer<Float>, _ count: Int) -> Float {
    var a = SIMD4<Float>(), b = SIMD4<Float>(), c = SIMD4<Float>(), d = SIMD4<Float>()
    let raw = UnsafeRawPointer(x)
    var i = 0
    while i + 16 <= count {
        a += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD4<Float>.self)
        b += raw.loadUnaligned(fromByteOffset: i * 4 + 16, as: SIMD4<Float>.self)
        c += raw.loadUnaligned(fromByteOffset: i * 4 + 32, as: SIMD4<Float>.self)
        d += raw.loadUnaligned(fromByteOffset: i * 4 + 48, as: SIMD4<Float>.self)
        i += 16
    }
    var total = ((a + b) + (c + d)).sum()
    while i < count { total += x[i]; i += 1 }
    return total
}

/// (Σ x, Σ x·(y − center)) over count values: the two sums of batch norm's backward pass.
@inline(__always)
func vectorSumAndCenteredDot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ count: Int, center: Float) -> (Float, Float) {
    var s0 = SIMD4<Float>(), s1 = SIMD4<Float>(), d0 = SIMD4<Float>(), d1 = SIMD4<Float>()
    let rx = UnsafeRawPointer(x), ry = UnsafeRawPointer(y), m = SIMD4<Float>(repeating: center)
    var i = 0
    while i + 8 <= count {
        let x0 = rx.loadUnaligned(fromByteOffset: i * 4, as: SIMD4<Float>.self), x1 = rx.loadUnaligned(fromByteOffset: i * 4 + 16, as: SIMD4<Float>.self)
        let y0 = ry.loadUnaligned(fromByteOffset: i * 4, as: SIMD4<Float>.self) - m
        let y1 = ry.loadUnaligned(fromByteOffset: i * 4 + 16, as: SIMD4<Float>.self) - m
        s0 += x0; s1 += x1
        d0 += x0 * y0; d1 += x1 * y1
        i += 8
    }
    var sum = (s0 + s1).sum(), dot = (d0 + d1).sum()
    while i < count { sum += x[i]; dot += x[i] * (y[i] - center); i += 1 }
    return (sum, dot)
}
