import NN

/// exp(A) for a batch of small square matrices [N, D, D], built from differentiable primitives
/// (so its gradient is exact): scaling and squaring with a degree-12 Taylor polynomial.
///
/// One scale s serves the whole batch: A/2ˢ has 1-norm at most ½, where the truncated series is
/// accurate to about 1e-14 relative, then the result is squared s times. Any s gives the same
/// function, so choosing it from the values does not disturb the gradient.
public func matrixExponential(_ a: Tensor) -> Tensor {
    precondition(a.rank == 3 && a.shape[1] == a.shape[2], "matrixExponential: expects [N, D, D], got \(a.shape)")
    let (n, d) = (a.shape[0], a.shape[1])
    let values = a.values
    var largestNorm: Float = 0
    for m in 0..<n {
        for column in 0..<d {
            var sum: Float = 0
            for row in 0..<d { sum += abs(values[(m * d + row) * d + column]) }
            largestNorm = max(largestNorm, sum)
        }
    }
    var squarings = 0
    while largestNorm > 0.5 && squarings < 64 { largestNorm /= 2; squarings += 1 }
    let identity = Tensor(shape: [1, d, d], values: (0..<(d * d)).map { $0 % (d + 1) == 0 ? 1 : 0 })
    let b = a.scaled(by: 1 / Float(1 << min(squarings, 62)))
    // Horner: I + B(I + B/2(I + B/3(… (I + B/12)))).
    var result = identity + b.scaled(by: 1 / 12)
    for k in stride(from: 11, through: 1, by: -1) {
        result = identity + b.batchedMatmul(result).scaled(by: 1 / Float(k))
    }
    for _ in 0..<squarings { result = result.batchedMatmul(result) }
    return result
}
