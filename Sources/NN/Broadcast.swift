/// Numpy-style broadcasting of two shapes (aligned at the last dimension; a dimension of 1
/// stretches), as element strides of each operand over the result.
struct Broadcast {
    let shape: [Int]
    let stridesA: [Int]
    let stridesB: [Int]
    var count: Int { shape.reduce(1, *) }

    /// nil when the shapes do not broadcast.
    init?(_ a: [Int], _ b: [Int]) {
        let rank = max(a.count, b.count)
        let paddedA = Array(repeating: 1, count: rank - a.count) + a
        let paddedB = Array(repeating: 1, count: rank - b.count) + b
        var shape: [Int] = []
        for (x, y) in zip(paddedA, paddedB) {
            guard x == y || x == 1 || y == 1 else { return nil }
            shape.append(x == 1 ? y : x)
        }
        func strides(_ dims: [Int]) -> [Int] {
            var result = [Int](repeating: 0, count: rank), step = 1
            for d in stride(from: rank - 1, through: 0, by: -1) {
                result[d] = dims[d] == 1 ? 0 : step
                step *= dims[d]
            }
            return result
        }
        self.shape = shape
        stridesA = strides(paddedA)
        stridesB = strides(paddedB)
    }

    /// Calls `body(i, ia, ib)` for every result element i in order, with the operands' offsets.
    /// The innermost dimension runs as a tight loop.
    @inline(__always)
    func forEach(_ body: (Int, Int, Int) -> Void) {
        guard count > 0 else { return }
        let rank = shape.count
        guard rank > 0 else { body(0, 0, 0); return }
        let inner = shape[rank - 1], sa = stridesA[rank - 1], sb = stridesB[rank - 1]
        var index = [Int](repeating: 0, count: rank)
        var i = 0
        while i < count {
            var ia = 0, ib = 0
            for d in 0..<(rank - 1) { ia += index[d] * stridesA[d]; ib += index[d] * stridesB[d] }
            for j in 0..<inner { body(i + j, ia + j * sa, ib + j * sb) }
            i += inner
            var d = rank - 2
            while d >= 0 {
                index[d] += 1
                if index[d] < shape[d] { break }
                index[d] = 0
                d -= 1
            }
        }
    }
}
