// Loops over float buffers written with explicit vectors. The compiler cannot vectorise the
// plain loops by itself when outputs may alias inputs, so the element-wise kernels use these:
// 16 floats at a time, then the tail one by one with the same function.

typealias Vector = SIMD16<Float>

@inline(__always)
private func load(_ p: UnsafePointer<Float>, _ i: Int) -> Vector { UnsafeRawPointer(p + i).loadUnaligned(as: Vector.self) }

@inline(__always)
private func store(_ v: Vector, _ p: UnsafeMutablePointer<Float>, _ i: Int) { UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: Vector.self) }

/// out[i] = f(a[i]) for i in range.
@inline(__always)
func mapVectors(_ range: Range<Int>, _ a: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ f: (Vector) -> Vector) {
    var i = range.lowerBound
    while i + 16 <= range.upperBound { store(f(load(a, i)), out, i); i += 16 }
    while i < range.upperBound { out[i] = f(Vector(repeating: a[i]))[0]; i += 1 }
}

/// out[i] = f(a[i], b[i]) for i in range.
@inline(__always)
func zipVectors(_ range: Range<Int>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                _ f: (Vector, Vector) -> Vector) {
    var i = range.lowerBound
    while i + 16 <= range.upperBound { store(f(load(a, i), load(b, i)), out, i); i += 16 }
    while i < range.upperBound { out[i] = f(Vector(repeating: a[i]), Vector(repeating: b[i]))[0]; i += 1 }
}

/// out[i] += f(a[i], b[i]) for i in range.
@inline(__always)
func accumulateVectors(_ range: Range<Int>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                       _ f: (Vector, Vector) -> Vector) {
    var i = range.lowerBound
    while i + 16 <= range.upperBound { store(load(out, i) + f(load(a, i), load(b, i)), out, i); i += 16 }
    while i < range.upperBound { out[i] += f(Vector(repeating: a[i]), Vector(repeating: b[i]))[0]; i += 1 }
}

/// Copies `count` floats (a row of a plane, a panel row or less) with vector moves: a library
/// call costs more than the copy at these lengths. `from` and `to` must not overlap.
@inline(__always)
func copyFloats(_ from: UnsafePointer<Float>, to: UnsafeMutablePointer<Float>, count: Int) {
    let (source, target) = (UnsafeRawPointer(from), UnsafeMutableRawPointer(to))
    var i = 0
    while i + 16 <= count {
        target.storeBytes(of: source.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self), toByteOffset: i &* 4, as: SIMD16<Float>.self)
        i &+= 16
    }
    while i + 4 <= count {
        target.storeBytes(of: source.loadUnaligned(fromByteOffset: i &* 4, as: SIMD4<Float>.self), toByteOffset: i &* 4, as: SIMD4<Float>.self)
        i &+= 4
    }
    // At most three left, written without a loop (a loop of scalar moves becomes a library call).
    if i < count { to[i] = from[i] }
    if i &+ 1 < count { to[i &+ 1] = from[i &+ 1] }
    if i &+ 2 < count { to[i &+ 2] = from[i &+ 2] }
}

/// Writes `count` zeros (a plane's border, a few rows) with vector stores, for the same reason.
@inline(__always)
func zeroFloats(_ to: UnsafeMutablePointer<Float>, count: Int) {
    let target = UnsafeMutableRawPointer(to)
    var i = 0
    while i + 16 <= count { target.storeBytes(of: SIMD16<Float>(), toByteOffset: i &* 4, as: SIMD16<Float>.self); i &+= 16 }
    while i + 4 <= count { target.storeBytes(of: SIMD4<Float>(), toByteOffset: i &* 4, as: SIMD4<Float>.self); i &+= 4 }
    if i < count { to[i] = 0 }
    if i &+ 1 < count { to[i &+ 1] = 0 }
    if i &+ 2 < count { to[i &+ 2] = 0 }
}

extension SIMD16 where Scalar == Float {
    /// The 16 floats at `pointer` (any alignment).
    @inline(__always) init(load pointer: UnsafePointer<Float>) { self = UnsafeRawPointer(pointer).loadUnaligned(as: Self.self) }
    /// Writes the 16 lanes to `pointer` (any alignment).
    @inline(__always) func store(to pointer: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(pointer).storeBytes(of: self, as: Self.self) }
}
