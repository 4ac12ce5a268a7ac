import Foundation

/// report.json: which invariances were learned and how well the model does (schema
/// "augerino.report/1", documented in docs/report-format.md).
public struct InvarianceReport: Codable, Equatable {
    public struct Invariance: Codable, Equatable {
        /// Generator name: translate_x, translate_y, rotation, scale, stretch, shear; or a
        /// photometric family (brightness, contrast, gamma, saturation, hue), listed after them
        /// when named.
        public var generator: String
        /// Whether this width was trained (others stay 0).
        public var learned: Bool
        /// Learned full width θ in parameter units.
        public var theta: Float
        public var initialTheta: Float
        /// [low, high] in natural units (see `unit`).
        public var interval: [Double]
        /// "degrees" (rotation; hue), "pixels", "factor" (scale; stretch along x; contrast; gamma;
        /// saturation), "slope", "percent" (brightness: the change of the pixel values) or
        /// "probability" (a mirror or the transpose: `theta` is the probability p ∈ [0, ½] of
        /// applying it, and the interval is [0, p]).
        public var unit: String
        /// [low, high] of θ over resamples of the images the spread objective read (the 5th to
        /// the 95th percentile); absent when the widths were trained (reward, evidence).
        public var thetaBand: [Float]? = nil
        /// The intervals (natural units) at the two ends of `thetaBand`; absent with it.
        public var intervalBand: [[Double]]? = nil
        /// True when the spread objective found that a regression's target changes along this
        /// generator (its groups' templates move with the target), so it reads as none;
        /// absent otherwise.
        public var followsTarget: Bool? = nil
        /// True on a mirror (or the transpose) the spread objective read as none because no
        /// class's images share one form to compare their mirror images with (a class that mixes
        /// shapes: labels by pose, a regression's ranges of the target); absent otherwise.
        public var noOneForm: Bool? = nil
        /// True on an affine generator the spread objective read while the mirrors' reading found
        /// no class whose images share one form (`noOneForm`): its width may measure how the
        /// shapes mixed in a class differ, not a spread of poses; absent otherwise.
        public var classesWithoutOneForm: Bool? = nil
        /// True beside `classesWithoutOneForm` when some of those classes were read within the
        /// forms found in them (`PoseModes`); absent when every class was read whole (too few
        /// images, or a form fit under the line that splits).
        public var readWithinForms: Bool? = nil
        /// Why a family the manifest named was not learned on these images (saturation and hue
        /// need three channels); absent otherwise.
        public var leftOut: String? = nil
        /// On brightness, contrast or gamma read by the spread objective: the other families
        /// whose readings a known change of this one moves as much as its own (the reading's
        /// pairs, `PhotometricSpread.Estimate.notToldApart`): on these images a change of this
        /// family cannot be told from one of those. Absent when there is none.
        public var notToldFrom: [String]? = nil

        enum CodingKeys: String, CodingKey {
            case generator, learned, theta, interval, unit
            case leftOut = "left_out"
            case initialTheta = "initial_theta"
            case thetaBand = "theta_band"
            case intervalBand = "interval_band"
            case followsTarget = "follows_target"
            case noOneForm = "no_one_form"
            case classesWithoutOneForm = "classes_without_one_form"
            case readWithinForms = "read_within_forms"
            case notToldFrom = "not_told_from"
        }
    }

    public var schema = "augerino.report/1"
    public var name: String
    public var task: String
    public var invariances: [Invariance]
    /// test_accuracy / test_accuracy_single (or test_mse / test_mse_single), train_loss,
    /// train_accuracy (or train_mse); fractions, not percentages.
    public var metrics: [String: Double]
    public var history: [EpochRecord]
    /// Each generator swept over a grid of magnitudes on held-out data.
    public var probes: [ProbeSweep]
    /// Everything that reproduces the run, with the data's SHA-256 (`bundle_sha256` or
    /// `data_sha256`).
    public var settings: [String: String]
    /// A few test inputs in their original units, for the report's pictures (absent in
    /// reports written before they were added).
    public var samples: [Sample]?

    /// One input image: C×H×W values in the data's own units (0…255 for bytes).
    public struct Sample: Codable, Equatable {
        public var shape: [Int]
        public var values: [Float]
        public init(shape: [Int], values: [Float]) { (self.shape, self.values) = (shape, values) }
    }

    public init(name: String, task: LearningTask, widths: [AffineGenerator: Float], initial: [AffineGenerator: Float],
                learned: Set<AffineGenerator>, imageHeight: Int, imageWidth: Int, metrics: [String: Double],
                history: [EpochRecord], probes: [ProbeSweep], settings: [String: String]) {
        self.name = name
        if case .classification = task { self.task = "classification" } else { self.task = "regression" }
        invariances = AffineGenerator.allCases.map { generator in
            let theta = widths[generator] ?? 0
            let (interval, unit) = naturalInterval(generator, theta: theta, height: imageHeight, width: imageWidth)
            return Invariance(generator: generator.rawValue, learned: learned.contains(generator), theta: theta,
                              initialTheta: initial[generator] ?? 0, interval: interval, unit: unit)
        }
        (self.metrics, self.history, self.probes, self.settings) = (metrics, history, probes, settings)
    }

    /// Adds a row for each learned photometric family, after the affine generators, and one for
    /// each family named but `leftOut` (not learned, with the reason).
    public mutating func addPhotometric(widths: [PhotometricFamily: Float], initial: [PhotometricFamily: Float], learned: Set<PhotometricFamily>,
                                        leftOut: [PhotometricFamily: String] = [:]) {
        for family in PhotometricFamily.allCases where learned.contains(family) || leftOut[family] != nil {
            let theta = learned.contains(family) ? widths[family] ?? 0 : 0
            let (interval, unit) = family.naturalInterval(theta: theta)
            invariances.append(Invariance(generator: family.rawValue, learned: learned.contains(family), theta: theta,
                                          initialTheta: learned.contains(family) ? initial[family] ?? 0 : 0,
                                          interval: interval, unit: unit, leftOut: learned.contains(family) ? nil : leftOut[family]))
        }
    }

    /// Adds a row for each learned mirror (or the transpose), after the photometric families,
    /// and one for each named but `leftOut`: `theta` is its probability p, the interval [0, p].
    public mutating func addSymmetry(probabilities: [SymmetryFamily: Float], initial: [SymmetryFamily: Float], learned: Set<SymmetryFamily>,
                                     leftOut: [SymmetryFamily: String] = [:]) {
        for family in SymmetryFamily.allCases where learned.contains(family) || leftOut[family] != nil {
            let p = learned.contains(family) ? probabilities[family] ?? 0 : 0
            invariances.append(Invariance(generator: family.rawValue, learned: learned.contains(family), theta: p,
                                          initialTheta: learned.contains(family) ? initial[family] ?? 0 : 0,
                                          interval: [0, Double(p)], unit: "probability", leftOut: learned.contains(family) ? nil : leftOut[family]))
        }
    }

    /// Records how sure each mirror's probability is: `bands` of p (`SymmetrySpread`'s resamples).
    public mutating func setBands(_ bands: [SymmetryFamily: ClosedRange<Float>]) {
        for (i, invariance) in invariances.enumerated() {
            guard let family = SymmetryFamily(rawValue: invariance.generator), let band = bands[family] else { continue }
            invariances[i].thetaBand = [band.lowerBound, band.upperBound]
            invariances[i].intervalBand = [[0, Double(band.lowerBound)], [0, Double(band.upperBound)]]
        }
    }

    /// Records how sure each width is: `bands` of θ (the spread objective's resamples), with
    /// their intervals in natural units.
    public mutating func setBands(_ bands: [AffineGenerator: ClosedRange<Float>], imageHeight: Int, imageWidth: Int) {
        for (i, invariance) in invariances.enumerated() {
            guard let generator = AffineGenerator(rawValue: invariance.generator), let band = bands[generator] else { continue }
            invariances[i].thetaBand = [band.lowerBound, band.upperBound]
            invariances[i].intervalBand = [band.lowerBound, band.upperBound].map {
                naturalInterval(generator, theta: $0, height: imageHeight, width: imageWidth).0
            }
        }
    }

    /// Records how sure each photometric width is: `bands` of θ (`PhotometricSpread`'s
    /// resamples), with their intervals in natural units.
    public mutating func setBands(_ bands: [PhotometricFamily: ClosedRange<Float>]) {
        for (i, invariance) in invariances.enumerated() {
            guard let family = PhotometricFamily(rawValue: invariance.generator), let band = bands[family] else { continue }
            invariances[i].thetaBand = [band.lowerBound, band.upperBound]
            invariances[i].intervalBand = [band.lowerBound, band.upperBound].map { family.naturalInterval(theta: $0).0 }
        }
    }

    /// What the photometric reading says beside its widths: their bands, and the families a
    /// known change of each moves as much as its own (`not_told_from`, on learned rows).
    public mutating func setPhotometricReading(_ estimate: PhotometricSpread.Estimate) {
        setBands(estimate.bands)
        for i in invariances.indices where invariances[i].learned {
            guard let family = PhotometricFamily(rawValue: invariances[i].generator) else { continue }
            let others = estimate.notToldApart(family)
            invariances[i].notToldFrom = others.isEmpty ? nil : others.map(\.rawValue)
        }
    }

    /// Marks the generators along which a regression's target changes (`follows_target`).
    public mutating func setFollowsTarget(_ generators: Set<AffineGenerator>) {
        mark(\.followsTarget, names: Set(generators.map(\.rawValue)), learnedOnly: false)
    }

    /// What the spread objective's reading says beside its widths: their bands, the generators
    /// the target moves, the mirrors' bands, and the classes without one form: every class (the
    /// mirrors' reading found none with one: `no_one_form` on the mirrors) or some, split and
    /// read within their forms (`PoseModes`); either marks the affine widths
    /// (`classes_without_one_form`, and `read_within_forms` when any class was split).
    public mutating func setSpreadReading(_ estimate: SpreadEstimator.Estimate, imageHeight: Int, imageWidth: Int) {
        setBands(estimate.bands, imageHeight: imageHeight, imageWidth: imageWidth)
        setFollowsTarget(estimate.followsTarget)
        guard let symmetry = estimate.symmetry else { return }
        setBands(symmetry.bands)
        let split = estimate.forms.values.contains { $0 > 1 }
        if symmetry.noOneForm { setNoOneForm(Set(symmetry.probabilities.keys)) }
        if symmetry.noOneForm || split { setClassesWithoutOneForm(Set(AffineGenerator.allCases), withinForms: split) }
    }

    /// Marks the mirrors read as none because no class has one form (`no_one_form`).
    public mutating func setNoOneForm(_ families: Set<SymmetryFamily>) {
        mark(\.noOneForm, names: Set(families.map(\.rawValue)))
    }

    /// Marks the affine generators read from classes whose images share no one form
    /// (`classes_without_one_form`), and whether some of them were read `withinForms`
    /// (`read_within_forms`).
    public mutating func setClassesWithoutOneForm(_ generators: Set<AffineGenerator>, withinForms: Bool) {
        mark(\.classesWithoutOneForm, names: Set(generators.map(\.rawValue)))
        if withinForms { mark(\.readWithinForms, names: Set(generators.map(\.rawValue))) }
    }

    /// Sets `flag` true on the rows named (of those learned, with `learnedOnly`).
    private mutating func mark(_ flag: WritableKeyPath<Invariance, Bool?>, names: Set<String>, learnedOnly: Bool = true) {
        for i in invariances.indices where names.contains(invariances[i].generator) && (invariances[i].learned || !learnedOnly) {
            invariances[i][keyPath: flag] = true
        }
    }

    /// Pretty-printed JSON with sorted keys.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}

/// The learned interval ε ∈ [−θ/2, θ/2] in the units a person reads (see `naturalValue`).
/// A rotation of θ ≥ 2π covers the whole circle and reads ±180°.
public func naturalInterval(_ generator: AffineGenerator, theta: Float, height: Int, width: Int) -> ([Double], String) {
    if generator == .rotation && Double(theta) >= 2 * .pi { return ([-180, 180], "degrees") }
    let (low, unit) = naturalValue(generator, epsilon: -theta / 2, height: height, width: width)
    return ([low, naturalValue(generator, epsilon: theta / 2, height: height, width: width).0], unit)
}

/// How many digits an interval's text keeps.
public enum RangePrecision: Sendable {
    /// For people (the report's headlines): whole degrees and pixels from 10 up, one decimal
    /// from 1, two below.
    case rounded
    /// For logs and the bench, where epoch-to-epoch changes matter: degrees to 0.1, pixels to 0.01.
    case fixed
}

/// An interval in natural units (`naturalValue`) as text: "±45°", "±0.68 px",
/// "×0.80–×1.25", "slope ±0.40"; an interval whose ends differ by more than a tenth in size
/// reads "−20°…+35°". Factors and slopes always keep two decimals.
public func naturalRangeText(low: Double, high: Double, unit: String, precision: RangePrecision = .rounded) -> String {
    func number(_ v: Double, fixedDecimals: Int) -> String {
        let text: String
        switch precision {
        case .rounded: text = String(format: abs(v) >= 10 ? "%.0f" : abs(v) >= 1 ? "%.1f" : "%.2f", v)
        case .fixed: text = String(format: "%.\(fixedDecimals)f", v)
        }
        return withMinusSign(text)
    }
    let symmetric = abs(abs(low) - abs(high)) <= 0.1 * max(abs(low), abs(high))
    switch unit {
    case "degrees": return symmetric ? "±\(number(high, fixedDecimals: 1))°" : "\(number(low, fixedDecimals: 1))°…+\(number(high, fixedDecimals: 1))°"
    case "pixels": return symmetric ? "±\(number(high, fixedDecimals: 2)) px" : "\(number(low, fixedDecimals: 2))…+\(number(high, fixedDecimals: 2)) px"
    case "factor": return "×\(String(format: "%.2f", low))–×\(String(format: "%.2f", high))"
    case "percent": return symmetric ? "±\(number(high, fixedDecimals: 1))%" : "\(number(low, fixedDecimals: 1))%…+\(number(high, fixedDecimals: 1))%"
    case "probability": return "p \(String(format: "%.2f", high))"
    default: return symmetric ? "slope ±\(String(format: "%.2f", high))" : "slope \(withMinusSign(String(format: "%.2f", low)))…+\(String(format: "%.2f", high))"
    }
}

/// A formatted number with the minus sign (U+2212) where printf writes a hyphen, as ± and +
/// beside it.
func withMinusSign(_ text: String) -> String { text.replacingOccurrences(of: "-", with: "−") }

/// The interval of width θ, as logs and the bench show it: ±45.0°, ±2.00 px, ×0.83–×1.20, slope ±0.20.
public func naturalRangeText(_ generator: AffineGenerator, theta: Float, height: Int, width: Int) -> String {
    let (interval, unit) = naturalInterval(generator, theta: theta, height: height, width: width)
    return naturalRangeText(low: interval.first ?? 0, high: interval.last ?? 0, unit: unit, precision: .fixed)
}

/// Every generator's learned width by name (an epoch's `theta`) as natural ranges, in the
/// generators' order, then the photometric families', then the mirrors' probabilities:
/// "translate_x ±0.52 px, …, rotation ±31.8°, …, brightness ±10.2%, horizontal_flip p 0.49";
/// names absent from `theta` are left out.
public func naturalWidthsText(_ theta: [String: Float], height: Int, width: Int) -> String {
    let affine = AffineGenerator.allCases.compactMap { generator in
        theta[generator.rawValue].map { "\(generator.rawValue) \(naturalRangeText(generator, theta: $0, height: height, width: width))" }
    }
    let photometric = PhotometricFamily.allCases.compactMap { family in
        theta[family.rawValue].map { theta -> String in
            let (interval, unit) = family.naturalInterval(theta: theta)
            return "\(family.rawValue) \(naturalRangeText(low: interval[0], high: interval[1], unit: unit, precision: .fixed))"
        }
    }
    let symmetry = SymmetryFamily.allCases.compactMap { family in
        theta[family.rawValue].map { "\(family.rawValue) \(naturalRangeText(low: 0, high: Double($0), unit: "probability", precision: .fixed))" }
    }
    return (affine + photometric + symmetry).joined(separator: ", ")
}

/// A magnitude ε of one generator in natural units: rotation in degrees; translation in pixels
/// of the input (a normalised unit is (size − 1)/2 pixels, and the generators carry a factor
/// 0.1); scale and stretch as the factor e^ε (stretch: on x); shear as the slope tanh(ε)
/// (exp(εG) has off-diagonal over diagonal tanh ε).
public func naturalValue(_ generator: AffineGenerator, epsilon: Float, height: Int, width: Int) -> (Double, String) {
    let e = Double(epsilon)
    switch generator {
    case .rotation: return (e * 180 / .pi, "degrees")
    case .translateX: return (e * 0.1 * Double(width - 1) / 2, "pixels")
    case .translateY: return (e * 0.1 * Double(height - 1) / 2, "pixels")
    case .scale, .stretch: return (exp(e), "factor")
    case .shear: return (tanh(e), "slope")
    }
}
