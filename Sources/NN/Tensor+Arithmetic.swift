import Foundation
import Kernels

// Element-wise arithmetic with broadcasting, reductions, shape changes and matrix products.

extension Tensor {
    /// a + b with numpy broadcasting (for example [N, C, H, W] + [1, C, 1, 1]).
    public static func + (a: Tensor, b: Tensor) -> Tensor {
        let layout = broadcast(a, b, "+")
        let out = TensorStorage(uninitializedCount: layout.count)
        if a.shape == b.shape {
            Kernels.add(count: a.count, a.storage.pointer, b.storage.pointer, into: out.pointer, parallelism: TensorContext.parallelism)
        } else {
            let (pa, pb, po) = (a.storage.pointer, b.storage.pointer, out.pointer)
            layout.forEach { i, ia, ib in po[i] = pa[ia] + pb[ib] }
        }
        return Tensor(shape: layout.shape, storage: out, operation: .add(layout), inputs: [a, b])
    }

    /// a ⊙ b with numpy broadcasting.
    public static func * (a: Tensor, b: Tensor) -> Tensor {
        let layout = broadcast(a, b, "*")
        let out = TensorStorage(uninitializedCount: layout.count)
        if a.shape == b.shape {
            Kernels.multiply(count: a.count, a.storage.pointer, b.storage.pointer, into: out.pointer, parallelism: TensorContext.parallelism)
        } else {
            let (pa, pb, po) = (a.storage.pointer, b.storage.pointer, out.pointer)
            layout.forEach { i, ia, ib in po[i] = pa[ia] * pb[ib] }
        }
        return Tensor(shape: layout.shape, storage: out, operation: .multiply(layout), inputs: [a, b])
    }

    /// a − b with broadcasting.
    public static func - (a: Tensor, b: Tensor) -> Tensor { a + b.scaled(by: -1) }

    /// factor · self.
    public func scaled(by factor: Float) -> Tensor {
        let out = storage.copy()
        Kernels.scale(count: count, by: factor, out.pointer, parallelism: TensorContext.parallelism)
        return Tensor(shape: shape, storage: out, operation: .scale(factor), inputs: [self])
    }

    /// Σ of all elements, as a one-element tensor of shape [].
    public func sum() -> Tensor {
        Tensor(shape: [], storage: TensorStorage([Kernels.sum(count: count, storage.pointer)]), operation: .sum, inputs: [self])
    }

    /// Mean of all elements, shape [].
    public func mean() -> Tensor {
        Tensor(shape: [], storage: TensorStorage([Kernels.mean(count: count, storage.pointer)]), operation: .mean, inputs: [self])
    }

    /// Element-wise square root (gradient 0 where the value is 0).
    public func squareRoot() -> Tensor {
        let out = TensorStorage(uninitializedCount: count)
        for i in 0..<count { out.pointer[i] = storage.pointer[i].squareRoot() }
        return Tensor(shape: shape, storage: out, operation: .sqrt, inputs: [self])
    }

    /// Element-wise eˣ.
    public func exp() -> Tensor {
        let out = TensorStorage(uninitializedCount: count)
        for i in 0..<count { out.pointer[i] = Foundation.exp(storage.pointer[i]) }
        return Tensor(shape: shape, storage: out, operation: .exp, inputs: [self])
    }

    /// The Euclidean norm ‖self‖₂ of all elements, shape [].
    public func norm() -> Tensor { (self * self).sum().squareRoot() }

    /// The same values with another shape of equal element count (shares storage).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.reduce(1, *) == count, "reshaped: \(shape) has \(count) elements, \(newShape) needs \(newShape.reduce(1, *))")
        return Tensor(shape: newShape, storage: storage, operation: .reshape, inputs: [self])
    }

    /// [N, …] → [N, rest].
    public func flattened() -> Tensor { reshaped([shape[0], count / max(1, shape[0])]) }

    /// Rows `range` of the first dimension (a copy).
    public func slice(_ range: Range<Int>) -> Tensor {
        precondition(rank >= 1 && range.lowerBound >= 0 && range.upperBound <= shape[0], "slice: \(range) outside 0..<\(shape.first ?? 0)")
        let row = count / max(1, shape[0])
        let out = TensorStorage(uninitializedCount: range.count * row)
        out.pointer.update(from: storage.pointer + range.lowerBound * row, count: range.count * row)
        return Tensor(shape: [range.count] + shape.dropFirst(), storage: out, operation: .slice(range), inputs: [self])
    }

    /// Stacks tensors along the first dimension; the other dimensions must agree.
    public static func concatenate(_ parts: [Tensor]) -> Tensor {
        precondition(!parts.isEmpty, "concatenate: nothing to join")
        let tail = Array(parts[0].shape.dropFirst())
        precondition(parts.allSatisfy { Array($0.shape.dropFirst()) == tail }, "concatenate: shapes \(parts.map(\.shape)) differ beyond the first dimension")
        let out = TensorStorage(uninitializedCount: parts.reduce(0) { $0 + $1.count })
        var offset = 0
        for part in parts {
            (out.pointer + offset).update(from: part.storage.pointer, count: part.count)
            offset += part.count
        }
        return Tensor(shape: [parts.reduce(0) { $0 + $1.shape[0] }] + tail, storage: out, operation: .concatenate, inputs: parts)
    }

    /// Matrix product [M, K]·[K, N].
    public func matmul(_ other: Tensor) -> Tensor {
        precondition(rank == 2 && other.rank == 2 && shape[1] == other.shape[0], "matmul: shapes \(shape) and \(other.shape) do not chain")
        let (m, k, n) = (shape[0], shape[1], other.shape[1])
        let out = TensorStorage(uninitializedCount: m * n)
        sgemm(.none, .none, m: m, n: n, k: k, alpha: 1, a: storage.pointer, lda: k, b: other.storage.pointer, ldb: n,
              beta: 0, c: out.pointer, ldc: n, parallelism: TensorContext.parallelism)
        return Tensor(shape: [m, n], storage: out, operation: .matmul, inputs: [self, other])
    }

    /// Batched matrix product [B, M, K]·[B, K, N] (small matrices, such as 3x3 transforms).
    public func batchedMatmul(_ other: Tensor) -> Tensor {
        precondition(rank == 3 && other.rank == 3 && shape[0] == other.shape[0] && shape[2] == other.shape[1],
                     "batchedMatmul: shapes \(shape) and \(other.shape) do not chain")
        let (batch, m, k, n) = (shape[0], shape[1], shape[2], other.shape[2])
        let out = TensorStorage(uninitializedCount: batch * m * n)
        for i in 0..<batch {
            sgemm(.none, .none, m: m, n: n, k: k, alpha: 1, a: storage.pointer + i * m * k, lda: k,
                  b: other.storage.pointer + i * k * n, ldb: n, beta: 0, c: out.pointer + i * m * n, ldc: n, parallelism: .serial)
        }
        return Tensor(shape: [batch, m, n], storage: out, operation: .batchedMatmul, inputs: [self, other])
    }

    /// Affine map x·Wᵀ + b: x [N, I], weight [O, I], bias [O].
    public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
        precondition(x.rank == 2 && weight.rank == 2 && x.shape[1] == weight.shape[1], "linear: input \(x.shape) does not fit weight \(weight.shape)")
        let (n, i, o) = (x.shape[0], x.shape[1], weight.shape[0])
        let out = TensorStorage(uninitializedCount: n * o)
        sgemm(.none, .transposed, m: n, n: o, k: i, alpha: 1, a: x.storage.pointer, lda: i, b: weight.storage.pointer, ldb: i,
              beta: 0, c: out.pointer, ldc: o, parallelism: TensorContext.parallelism)
        var inputs = [x, weight]
        if let bias {
            precondition(bias.shape == [o], "linear: bias shape \(bias.shape) should be [\(o)]")
            for r in 0..<n { for j in 0..<o { out.pointer[r * o + j] += bias.storage.pointer[j] } }
            inputs.append(bias)
        }
        return Tensor(shape: [n, o], storage: out, operation: .linear, inputs: inputs)
    }

    private static func broadcast(_ a: Tensor, _ b: Tensor, _ symbol: String) -> Broadcast {
        guard let layout = Broadcast(a.shape, b.shape) else {
            preconditionFailure("\(symbol): shapes \(a.shape) and \(b.shape) do not broadcast")
        }
        return layout
    }
}
