import Foundation

/// A float32 tensor: a shape, contiguous row-major storage, and, when it takes part in a
/// differentiable computation, the tape entry that made it.
///
/// Leaves that require gradients (parameters) accumulate `gradient` across `backward()` calls
/// until an optimiser or the caller zeroes it. Results of operations record their inputs while
/// `TensorContext.recordsGradients` is on and any input requires a gradient.
public final class Tensor {
    /// Sizes of the dimensions, outermost first (NCHW for images).
    public let shape: [Int]
    /// The elements, row-major.
    public let storage: TensorStorage
    /// True for parameters and for results computed from them while recording.
    public let requiresGradient: Bool
    /// ∂loss/∂self accumulated by `backward()` (leaves only); nil until the first backward.
    public internal(set) var gradient: TensorStorage?
    /// How this tensor was computed; nil for leaves.
    let node: Node?

    /// Number of elements.
    public var count: Int { storage.count }
    /// Number of dimensions.
    public var rank: Int { shape.count }

    /// A leaf holding `values` (row-major) with the given shape.
    public convenience init(shape: [Int], values: [Float], requiresGradient: Bool = false) {
        precondition(shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == values.count,
                     "Tensor: shape \(shape) does not hold \(values.count) values")
        self.init(shape: shape, storage: TensorStorage(values), requiresGradient: requiresGradient)
    }

    /// A leaf filled with `value`.
    public convenience init(shape: [Int], repeating value: Float, requiresGradient: Bool = false) {
        self.init(shape: shape, storage: TensorStorage(count: shape.reduce(1, *), repeating: value), requiresGradient: requiresGradient)
    }

    /// A leaf over existing storage.
    public init(shape: [Int], storage: TensorStorage, requiresGradient: Bool = false) {
        precondition(shape.reduce(1, *) == storage.count, "Tensor: shape \(shape) does not match \(storage.count) values")
        self.shape = shape
        self.storage = storage
        self.requiresGradient = requiresGradient
        self.node = nil
    }

    /// The result of an operation: records `operation` on the tape when gradients are recorded
    /// and an input needs one.
    init(shape: [Int], storage: TensorStorage, operation: Operation, inputs: [Tensor]) {
        self.shape = shape
        self.storage = storage
        let records = TensorContext.recordsGradients && inputs.contains { $0.requiresGradient }
        self.requiresGradient = records
        self.node = records ? Node(operation: operation, inputs: inputs) : nil
    }

    /// A copy of the elements.
    public var values: [Float] { storage.values }

    /// The single element of a one-element tensor.
    public var item: Float {
        precondition(count == 1, "Tensor.item: tensor of shape \(shape) has \(count) elements, not 1")
        return storage.pointer[0]
    }

    /// A tensor with the same values that records nothing: cuts the tape.
    public func detached() -> Tensor { Tensor(shape: shape, storage: storage) }

    /// Drops the accumulated gradient (the next backward starts from zero).
    public func zeroGradient() { gradient?.fill(0) }

    /// The gradient buffer, created as zeros on first use.
    func gradientBuffer() -> TensorStorage {
        if let gradient { return gradient }
        let created = TensorStorage(count: count)
        gradient = created
        return created
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let shown = values.prefix(8).map { String(format: "%.4g", $0) }.joined(separator: ", ")
        return "Tensor(shape: \(shape), values: [\(shown)\(count > 8 ? ", …" : "")])"
    }
}
