import Foundation

/// Adam (Kingma & Ba) as PyTorch's `torch.optim.Adam`: weight decay is L2, added to the
/// gradient. With `decoupled` it is AdamW (`torch.optim.AdamW`): parameters shrink by
/// lr·decay before the Adam step, and the gradient is left alone.
public final class Adam: Optimizer {
    public var groups: [ParameterGroup]
    public let beta1: Float, beta2: Float, eps: Float
    public let decoupled: Bool
    private var slots = OptimizerSlots()

    public init(_ groups: [ParameterGroup], beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8, decoupled: Bool = false) {
        (self.groups, self.beta1, self.beta2, self.eps, self.decoupled) = (groups, beta1, beta2, eps, decoupled)
    }

    public func step() { step(groups: Set(groups.indices)) }

    /// One update of the parameters of the groups at these positions only (their moments and
    /// step counts alone advance).
    public func step(groups selected: Set<Int>) {
        for (g, group) in groups.enumerated() where selected.contains(g) {
            for (p, parameter) in group.parameters.enumerated() {
                guard let gradient = parameter.gradient else { continue }
                let n = parameter.count
                var m = slots[g, p, "exp_avg"] ?? [Float](repeating: 0, count: n)
                var v = slots[g, p, "exp_avg_sq"] ?? [Float](repeating: 0, count: n)
                let t = (slots[g, p, "step"]?.first ?? 0) + 1
                let (lr, decay) = (group.learningRate, group.weightDecay)
                let correction1 = 1 - Float(pow(Double(beta1), Double(t)))
                let correction2Root = Float((1 - pow(Double(beta2), Double(t))).squareRoot())
                let stepSize = lr / correction1
                let x = parameter.storage.pointer, dx = gradient.pointer
                for i in 0..<n {
                    var grad = dx[i]
                    if decoupled { x[i] *= 1 - lr * decay } else if decay != 0 { grad += decay * x[i] }
                    m[i] = beta1 * m[i] + (1 - beta1) * grad
                    v[i] = beta2 * v[i] + (1 - beta2) * grad * grad
                    x[i] -= stepSize * m[i] / (v[i].squareRoot() / correction2Root + eps)
                }
                slots[g, p, "exp_avg"] = m
                slots[g, p, "exp_avg_sq"] = v
                slots[g, p, "step"] = [t]
            }
        }
    }

    public var state: [(name: String, values: [Float])] { slots.named }

    public func loadState(_ saved: [String: [Float]], source: String) throws {
        var sizes: [String: Int] = [:]
        for (g, group) in groups.enumerated() {
            for (p, parameter) in group.parameters.enumerated() {
                sizes[OptimizerSlots.key(g, p, "exp_avg")] = parameter.count
                sizes[OptimizerSlots.key(g, p, "exp_avg_sq")] = parameter.count
                sizes[OptimizerSlots.key(g, p, "step")] = 1
            }
        }
        try slots.load(saved, expectedSizes: sizes, source: source)
    }
}

/// AdamW: Adam with decoupled weight decay.
public func AdamW(_ groups: [ParameterGroup], beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8) -> Adam {
    Adam(groups, beta1: beta1, beta2: beta2, eps: eps, decoupled: true)
}
