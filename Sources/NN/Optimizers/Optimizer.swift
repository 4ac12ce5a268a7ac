/// Parameters that share hyper-parameters (for example: the network with weight decay, the
/// augmentation widths without).
public struct ParameterGroup {
    public var parameters: [Tensor]
    public var learningRate: Float
    public var weightDecay: Float

    public init(_ parameters: [Tensor], learningRate: Float, weightDecay: Float = 0) {
        (self.parameters, self.learningRate, self.weightDecay) = (parameters, learningRate, weightDecay)
    }
}

/// An optimiser: hyper-parameters per group plus per-parameter state; it does not own the
/// model, it updates the tensors in its groups from their accumulated gradients.
public protocol Optimizer: AnyObject {
    var groups: [ParameterGroup] { get set }
    /// One update of every parameter that has a gradient; parameters without one are skipped.
    func step()
    /// The per-parameter state by stable name ("group0.param3.exp_avg", …), for checkpoints.
    var state: [(name: String, values: [Float])] { get }
    /// Restores `state` as saved.
    /// - Throws: `NNError.invalidCheckpoint` when names or sizes do not match this optimiser.
    func loadState(_ saved: [String: [Float]], source: String) throws
}

extension Optimizer {
    /// Sets every parameter's gradient to zero.
    public func zeroGradients() {
        for group in groups { for parameter in group.parameters { parameter.zeroGradient() } }
    }

    /// Every group's learning rate set to `base[g] · factor`.
    public func setLearningRates(_ rates: [Float]) {
        precondition(rates.count == groups.count, "setLearningRates: \(rates.count) rates for \(groups.count) groups")
        for index in groups.indices { groups[index].learningRate = rates[index] }
    }
}

/// Scales all gradients together so that their joint L2 norm is at most `maxNorm`; returns the
/// norm before clipping (PyTorch's `clip_grad_norm_`).
@discardableResult
public func clipGradientNorm(_ parameters: [Tensor], maxNorm: Float) -> Float {
    var total = 0.0
    for parameter in parameters {
        guard let gradient = parameter.gradient else { continue }
        for i in 0..<gradient.count { total += Double(gradient.pointer[i]) * Double(gradient.pointer[i]) }
    }
    let norm = Float(total.squareRoot())
    let factor = maxNorm / (norm + 1e-6)
    if factor < 1 {
        for parameter in parameters {
            guard let gradient = parameter.gradient else { continue }
            for i in 0..<gradient.count { gradient.pointer[i] *= factor }
        }
    }
    return norm
}

/// Per-parameter state storage shared by the optimisers: named float vectors keyed by
/// (group, parameter) position.
struct OptimizerSlots {
    private(set) var slots: [String: [Float]] = [:]

    static func key(_ group: Int, _ parameter: Int, _ slot: String) -> String { "group\(group).param\(parameter).\(slot)" }

    subscript(group: Int, parameter: Int, slot: String) -> [Float]? {
        get { slots[Self.key(group, parameter, slot)] }
        set { slots[Self.key(group, parameter, slot)] = newValue }
    }

    var named: [(name: String, values: [Float])] { slots.keys.sorted().map { ($0, slots[$0]!) } }

    mutating func load(_ saved: [String: [Float]], expectedSizes: [String: Int], source: String) throws {
        for (name, values) in saved {
            guard let size = expectedSizes[name] else {
                throw NNError.invalidCheckpoint(file: source, rule: "optimiser state \"\(name)\" belongs to no parameter of this model")
            }
            guard values.count == size else {
                throw NNError.invalidCheckpoint(file: source, rule: "optimiser state \"\(name)\" has \(values.count) values, its parameter has \(size)")
            }
        }
        slots = saved
    }
}
