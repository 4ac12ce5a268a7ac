// Reductions over flat buffers and over the rows of an R×K matrix, summed in Double in a
// fixed order (so independent of the thread count).

/// Σ x.
public func sum(count: Int, _ x: UnsafePointer<Float>) -> Float {
    var total = 0.0
    for i in 0..<count { total += Double(x[i]) }
    return Float(total)
}

/// Σ x / count (0 for an empty buffer).
public func mean(count: Int, _ x: UnsafePointer<Float>) -> Float {
    count == 0 ? 0 : Float(Double(sum(count: count, x)) / Double(count))
}

/// ⟨x, y⟩.
public func dot(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
    var total = 0.0
    for i in 0..<count { total += Double(x[i]) * Double(y[i]) }
    return Float(total)
}

/// out[j] += Σ_r x[r][j] for an R×K matrix: the bias gradient of a linear layer.
public func addColumnSums(rows: Int, cols: Int, _ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                          parallelism: Parallelism) {
    parallelism.forEachRange(cols, grain: max(1, 16384 / max(1, rows))) { columns in
        for j in columns {
            var total = 0.0
            for r in 0..<rows { total += Double(x[r * cols + j]) }
            out[j] += Float(total)
        }
    }
}

/// out[r] = Σ_j x[r][j] for an R×K matrix.
public func rowSums(rows: Int, cols: Int, _ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                    parallelism: Parallelism) {
    parallelism.forEach(rows, grain: max(1, 16384 / max(1, cols))) { r in
        var total = 0.0
        for j in 0..<cols { total += Double(x[r * cols + j]) }
        out[r] = Float(total)
    }
}

/// The largest |x| (0 for an empty buffer); NaN if any value is NaN.
public func maxAbs(count: Int, _ x: UnsafePointer<Float>) -> Float {
    var top: Float = 0
    for i in 0..<count {
        if x[i].isNaN { return .nan }
        top = max(top, abs(x[i]))
    }
    return top
}
