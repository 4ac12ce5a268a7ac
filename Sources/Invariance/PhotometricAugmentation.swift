import Foundation
import NN

/// The learned distribution over brightness, contrast, gamma, saturation and hue: raw widths w,
/// θ = softplus(w), per image ε_f = (u_f − ½)·θ_f, and the image adjusted by the factors e^ε and
/// hue's turn ε (`Tensor.photometricAdjust`). It works on the data's own range: the training
/// split's smallest raw value is black (0), its largest white (1). Families not in `learned`
/// keep θ = 0: the factor 1, the turn 0.
public final class PhotometricAugmentation {
    /// w, the parameter the optimiser trains (one value per family).
    public let rawWidths: Tensor
    /// Families whose widths are learned; the others are held at 0.
    public let learned: Set<PhotometricFamily>
    /// How the standardised values the network sees map onto [0, 1]: p = x·gain + offset.
    public let gain: Float, offset: Float
    private let mask: Tensor

    /// - Parameters:
    ///   - initialWidths: θ at the start, per family (missing learned ones get `defaultWidth`).
    ///   - mean, std: the standardisation x = (raw − mean)/std.
    ///   - low, high: the raw values that are black and white (low < high).
    public init(learned: Set<PhotometricFamily>, initialWidths: [PhotometricFamily: Float] = [:], defaultWidth: Float = 0.1,
                mean: Float, std: Float, low: Float, high: Float) {
        precondition(high > low && std > 0, "PhotometricAugmentation: needs low < high and std > 0, got \(low), \(high), \(std)")
        self.learned = learned
        (gain, offset) = (std / (high - low), (mean - low) / (high - low))
        rawWidths = Tensor(shape: [PhotometricFamily.allCases.count],
                           values: PhotometricFamily.allCases.map { inverseSoftplus(max(initialWidths[$0] ?? defaultWidth, 1e-6)) },
                           requiresGradient: true)
        mask = Tensor(shape: [PhotometricFamily.allCases.count], values: PhotometricFamily.allCases.map { learned.contains($0) ? 1 : 0 })
    }

    /// Sets θ (learned families only; at least 10⁻⁶, as at `init`).
    public func setWidths(_ widths: [PhotometricFamily: Float]) {
        let raw = PhotometricFamily.allCases.map { inverseSoftplus(max(widths[$0] ?? 0, 1e-6)) }
        raw.withUnsafeBufferPointer { rawWidths.storage.pointer.update(from: $0.baseAddress!, count: raw.count) }
    }

    /// θ = softplus(w), with families that are not learned set to 0.
    public var widths: Tensor { rawWidths.softplus() * mask }

    /// θ as plain numbers, by family.
    public var widthValues: [PhotometricFamily: Float] {
        let values = TensorContext.withoutGradients { widths.values }
        return Dictionary(uniqueKeysWithValues: PhotometricFamily.allCases.map { ($0, values[$0.index]) })
    }

    /// One draw of each family per example, as the kernel takes it: [N, 5], e^((u − ½)·θ) for
    /// the factors and (u − ½)·θ for hue's turn; differentiable in w.
    public func sampleFactors(count n: Int, random: inout RandomGenerator) -> Tensor {
        let families = PhotometricFamily.allCases.count
        let u = Tensor(shape: [n, families], values: (0..<(n * families)).map { _ in random.nextFloat() - 0.5 })
        let epsilon = u * widths
        return epsilon.exp() * factorMask + epsilon * turnMask
    }

    /// 1 for the families applied as a factor e^ε, 0 for hue (applied as the turn ε).
    private let factorMask = Tensor(shape: [PhotometricFamily.allCases.count], values: PhotometricFamily.allCases.map { $0 == .hue ? 0 : 1 })
    private let turnMask = Tensor(shape: [PhotometricFamily.allCases.count], values: PhotometricFamily.allCases.map { $0 == .hue ? 1 : 0 })

    /// x [N, C, H, W] adjusted by one random draw per image.
    public func callAsFunction(_ x: Tensor, random: inout RandomGenerator) -> Tensor {
        Tensor.photometricAdjust(x, factors: sampleFactors(count: x.shape[0], random: &random), gain: gain, offset: offset)
    }
}
