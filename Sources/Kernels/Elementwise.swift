// Element-wise arithmetic over flat float32 buffers of `count` values. Outputs may alias inputs.

private let elementGrain = 1 << 15

/// out = a + b.
public func add(count: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                parallelism: Parallelism) {
    parallelism.forEachRange(count, grain: elementGrain) { range in
        zipVectors(range, a, b, out, +)
    }
}

/// out = a ⊙ b.
public func multiply(count: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                     parallelism: Parallelism) {
    parallelism.forEachRange(count, grain: elementGrain) { range in
        zipVectors(range, a, b, out, *)
    }
}

/// y += alpha · x.
public func axpy(count: Int, alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, parallelism: Parallelism) {
    parallelism.forEachRange(count, grain: elementGrain) { range in
        accumulateVectors(range, x, x, into: y) { v, _ in v * alpha }
    }
}

/// x *= alpha.
public func scale(count: Int, by alpha: Float, _ x: UnsafeMutablePointer<Float>, parallelism: Parallelism) {
    parallelism.forEachRange(count, grain: elementGrain) { range in
        mapVectors(range, x, x) { $0 * alpha }
    }
}

/// x = value everywhere (zeroing a gradient buffer is `fill(…, with: 0)`).
public func fill(count: Int, _ x: UnsafeMutablePointer<Float>, with value: Float) {
    x.update(repeating: value, count: count)
}
