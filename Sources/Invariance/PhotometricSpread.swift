import Foundation
import NN

/// How far a dataset's own images vary in brightness, contrast and gamma within a class: the
/// photometric half of the spread objective (`SpreadEstimator` reads the affine half; hue and
/// saturation are read from the images' colour, `PhotometricSpread+Colour.swift`).
///
/// The three adjustments (`Kernels/PhotometricAdjust`) are one monotone map of the pixel values
/// per image, T(v) = clamp(m + κ·(clamp(β·v) − m))^γ on [0, 1], m the image's gray mean before
/// gamma. So they are read from the values alone, wherever the pixels lie: each image's profile
/// is, per channel, its darkest value (the background, which only contrast moves) and the
/// quantiles of its other values (its "ink": a stroke or a garment, whatever its size). A class's
/// reference is the mean of its images' profiles (then of its darker third's), and each image's log-factors f = (log β,
/// log κ, log γ) are those whose map brings the reference's profile nearest its own
/// (Levenberg–Marquardt, least squares; m from the image itself: its values raised to 1/γ,
/// averaged). The sorted values themselves would not do: a thick digit has more ink than a
/// thin one, not brighter ink, and read whole, MNIST's strokes spread over ×0.2…×5 of brightness.
///
/// Then as for the affine generators: a² = 3·(S² − σ²) for a uniform ±a, S² the variance of f
/// within a class and σ² the fit's own error, measured on pairs (an image, and the same image
/// adjusted by a known δ and fitted again to the same reference: their f differ by g·δ plus two
/// errors, 2σ² the intercept of the squared residuals against δ², `reading`); the full width
/// θ = 2a is `PhotometricAugmentation`'s width.
/// A family whose fit follows less than a quarter of an applied δ reads as none.
///
/// Where every class is one picture seen under adjustments (a sprite, a template), all five
/// families are read at once pixel by pixel against one member instead, with no profile and
/// nothing undone (`PhotometricSpread+OnePicture.swift`).
public struct PhotometricSpread {
    /// What the fits measured, by family (those not estimated read 0).
    public struct Estimate: Sendable, Equatable {
        /// Full widths θ = 2a.
        public var widths: [PhotometricFamily: Float] = [:]
        /// The spread before the fit's own error was taken off, as a full width.
        public var rawWidths: [PhotometricFamily: Float] = [:]
        /// The fit's own error, as a full width of the same units.
        public var fitError: [PhotometricFamily: Float] = [:]
        /// How much f moves per unit of applied δ (Theil–Sen slope of the pairs).
        public var gains: [PhotometricFamily: Float] = [:]
        /// The 5th to the 95th percentile of the widths read from resamples of the images read.
        public var bands: [PhotometricFamily: ClosedRange<Float>] = [:]
        /// How each of brightness, contrast and gamma's fits moves per unit of each one's applied
        /// δ (Theil–Sen over the pairs, which move all three at once; the diagonal is `gains`):
        /// row k, column j is ∂f_k/∂δ_j. Near the identity where the families can be told apart
        /// on these images (flat colours: the sprites, off the diagonal within ±0.2). On a dark
        /// background with a small mean m, raising contrast by δ is brightening by δ less m·δ:
        /// on MNIST and Fashion-MNIST a known change of contrast moves the brightness fit 0.5–1.0
        /// and its own 0.16–0.30 (docs/performance.md, session 36). Families not estimated have
        /// no row and no column.
        public var responses: [PhotometricFamily: [PhotometricFamily: Float]] = [:]

        /// The other families whose fits a known change of `family` moves as much as its own
        /// (and by at least `SpreadEstimator.blindGain` per unit: less is not seeing it), in
        /// brightness, contrast, gamma order: on these images a change of `family` cannot be told
        /// from one of theirs (contrast on MNIST: brightness's fit moves 0.58–0.77 per unit, its
        /// own 0.28–0.30).
        public func notToldApart(_ family: PhotometricFamily) -> [PhotometricFamily] {
            guard let own = responses[family]?[family] else { return [] }
            return PhotometricFamily.allCases.filter { other in
                guard other != family, let moved = responses[other]?[family] else { return false }
                return moved >= max(own, Float(SpreadEstimator.blindGain))
            }
        }

        /// Records `family` as not read: every number 0, no band.
        mutating func recordNone(_ family: PhotometricFamily) {
            (widths[family], rawWidths[family], fitError[family], gains[family]) = (0, 0, 0, 0)
        }

        /// Records one family's reading and its pairs' gain; below `SpreadEstimator.blindGain`
        /// the reading cannot see the family and its width is 0 (band 0…0), otherwise the band
        /// is the resampled widths' (`band()`).
        mutating func record(_ family: PhotometricFamily, _ reading: (width: Float, raw: Float, error: Float), gain: Double,
                             band: () -> ClosedRange<Float>) {
            (widths[family], rawWidths[family], fitError[family], gains[family]) = (reading.width, reading.raw, reading.error, Float(gain))
            if gain < SpreadEstimator.blindGain {
                widths[family] = 0
                bands[family] = 0...0
            } else {
                bands[family] = band()
            }
        }
    }

    /// Families whose spread is read.
    public var estimated: Set<PhotometricFamily>
    /// Images read, at most (a random choice).
    public var images = 1000
    /// Levenberg–Marquardt iterations per fit.
    public var iterations = 30
    /// The pairs' δ: uniform in ±this, per family, in log-factor. Small, so that what grows
    /// with δ (an image's own gain, one family's δ read as another's) stays small beside the
    /// fit's error; the error is the intercept of the squares anyway (`reading`).
    public var pairRange: Float = 0.02

    public init(estimated: Set<PhotometricFamily>) { self.estimated = estimated }

    /// A saturation width past the report's "none" (×1.05 at the top: θ = 2·log 1.05), and a
    /// hue width past it (±5°).
    static let saturationSeen: Float = 2 * Float(Foundation.log(1.05))
    static let hueSeen: Float = 2 * 5 * .pi / 180

    /// Red's, green's and blue's weights in a pixel's gray (torchvision's, as the kernel's).
    static let rgbGray = [0.2989, 0.587, 0.114]

    /// Quantiles of the ink per channel in a profile.
    static let inkQuantiles = 48
    /// Values kept per channel to compute an image's mean under a trial γ.
    static let meanQuantiles = 128
    /// A value counts as ink when it lies this far (on [0, 1]) above the image's darkest.
    static let inkMargin = 0.02
    /// The background's weight in the fit, against each ink quantile's 1.
    static let backgroundWeight = 8.0

    /// Reads the spread of `data` (standardised values; `gain` and `offset` map them onto
    /// [0, 1] as `PhotometricAugmentation` does) within `group`.
    public func estimate(_ data: ImageDataset, gain: Float, offset: Float, group: ([Float]) -> [Int],
                         random: inout RandomGenerator) -> Estimate {
        let chosen = data.count <= images ? Array(0..<data.count) : random.permutation(data.count).prefix(images).sorted()
        let (n, c, plane) = (chosen.count, data.channels, data.height * data.width)
        let size = c * plane
        let grayWeights = (0..<c).map { c == 3 ? Self.rgbGray[$0] : 1 / Double(c) }
        let groups = group(chosen.map { data.targets[$0] })
        // Pairs: each image also adjusted by a known δ (fitted again below).
        let families: [PhotometricFamily] = [.brightness, .contrast, .gamma]
        let delta = (0..<(n * 3)).map { i in estimated.contains(families[i % 3]) ? (random.nextFloat() * 2 - 1) * pairRange : 0 }
        // Hue and saturation, for three channels: their own pairs (log σ, η), drawn after the others'.
        let colour = c == 3 && (estimated.contains(.saturation) || estimated.contains(.hue))
        let colourDelta: [(Float, Float)] = colour ? (0..<n).map { _ in
            (estimated.contains(.saturation) ? (random.nextFloat() * 2 - 1) * pairRange : 0,
             estimated.contains(.hue) ? (random.nextFloat() * 2 - 1) * Self.hueRange : 0)
        } : []
        let adjusted = { (image: [Float], factors: [Float]) -> [Float] in
            TensorContext.withoutGradients {
                Tensor.photometricAdjust(Tensor(shape: [1, c, 1, plane], values: image), factors: Tensor(shape: [1, factors.count], values: factors),
                                         gain: 1, offset: 0).values
            }
        }
        let imageOnUnit = { (row: Int) -> [Float] in data.images[(chosen[row] * size)..<((chosen[row] + 1) * size)].map { $0 * gain + offset } }
        /// Brightness, contrast and gamma of every image (each first brought to its class's colour
        /// by `colourUndo`, when given) and of its pair: log-factors against the class reference.
        func valueFits(colourUndo: [(Float, Float)]?) -> (plain: [[Double]], refitted: [[Double]]) {
            // One image at a time, so that only the profiles are kept, whatever the images' size.
            var profiles: [Profile] = [], movedProfiles: [Profile] = []
            for row in 0..<n {
                var image = imageOnUnit(row)
                if let undo = colourUndo?[row], undo != (0, 0) { image = adjusted(image, [1, 1, 1, Foundation.exp(undo.0), undo.1]) }
                profiles.append(Self.profile(image.map(Double.init), channels: c))
                let moved = adjusted(image, delta[(row * 3)..<(row * 3 + 3)].map { Foundation.exp($0) } + [1, 0])
                movedProfiles.append(Self.profile(moved.map(Double.init), channels: c))
            }
            // Each group's reference: the mean of its members' profiles.
            var sums: [Int: [Double]] = [:], counts: [Int: Int] = [:]
            for (profile, g) in zip(profiles, groups) {
                sums[g] = zip(sums[g] ?? [Double](repeating: 0, count: profile.values.count), profile.values).map { $0 + $1 }
                counts[g, default: 0] += 1
            }
            var means: [Int: [Double]] = [:]
            for (g, sum) in sums { means[g] = sum.map { $0 / Double(counts[g]!) } }
            var plain = (0..<n).map { fit(profiles[$0], reference: means[groups[$0]]!, channels: c, grayWeights: grayWeights) }
            if estimated.contains(.brightness) || estimated.contains(.contrast) {
                // A mean of brightened profiles is not a brightened profile: where some members are
                // clipped at white (or, under contrast, at black) and others not, the mean bends. The
                // darker and flatter members are clipped least, so each reference becomes their mean
                // (the third of the group with the lowest log β + log κ in the first fit), and every
                // image is fitted again: on sprites brightened within ±20% the width read went from
                // 12% short to within 4% of the planted, and within ×1.6 of contrast from 17% to 11% short.
                var darker: [Int: [Double]] = [:]
                for (g, members) in Dictionary(grouping: 0..<n, by: { groups[$0] }) {
                    let kept = members.sorted { plain[$0][0] + plain[$0][1] < plain[$1][0] + plain[$1][1] }.prefix(max(1, members.count / 3))
                    darker[g] = kept.reduce(into: [Double](repeating: 0, count: profiles[kept.first!].values.count)) { sum, i in
                        for k in sum.indices { sum[k] += profiles[i].values[k] }
                    }.map { $0 / Double(kept.count) }
                }
                means = darker
                plain = (0..<n).map { fit(profiles[$0], reference: means[groups[$0]]!, channels: c, grayWeights: grayWeights) }
            }
            return (plain, (0..<n).map { fit(movedProfiles[$0], reference: means[groups[$0]]!, channels: c, grayWeights: grayWeights) })
        }
        /// Every image's colour pose and its pair's, against what its brightness, contrast and
        /// gamma make of its class's exemplar (`valueFits`' log-factors applied to it, clamps and
        /// all): a brightening clipped at white moves the hue and the saturation of vivid colours
        /// (sprites brightened within ±40% read saturation ×0.83–×1.20 and hue ±7° against the
        /// class alone), and what the values explain is not colour. The hue pose is the turn that
        /// lays the image's hue histogram onto the prediction's (`hueTurn`), and the saturation is
        /// read with the image turned back by it (a turn moves the grays).
        func colourPoses(valueFits: [[Double]], exemplars: [Int: Int]) -> (plain: [(hue: Float, saturation: Float)?], moved: [(hue: Float, saturation: Float)?]) {
            var plain: [(hue: Float, saturation: Float)?] = [], moved: [(hue: Float, saturation: Float)?] = []
            for row in 0..<n {
                let f = valueFits[row]
                let image = imageOnUnit(row)
                let predicted = adjusted(imageOnUnit(exemplars[groups[row]]!), f.map { Float(Foundation.exp($0)) } + [1, 0])
                let shifted = adjusted(image, [1, 1, 1, Foundation.exp(colourDelta[row].0), colourDelta[row].1])
                guard let predictedHistogram = Self.hueHistogram(predicted, plane: plane),
                      let predictedRatio = Self.saturationRatio(predicted, plane: plane) else {
                    plain.append(nil)
                    moved.append(nil)
                    continue
                }
                let pose = { (image: [Float]) -> (hue: Float, saturation: Float)? in
                    guard let histogram = Self.hueHistogram(image, plane: plane) else { return nil }
                    let turn = Self.hueTurn(of: histogram, from: predictedHistogram)
                    guard let ratio = Self.saturationPose(image, plane: plane, turn: turn) else { return nil }
                    return (turn, ratio - predictedRatio)
                }
                plain.append(pose(image))
                moved.append(pose(shifted))
            }
            return (plain, moved)
        }

        var estimate = Estimate()
        for family in [PhotometricFamily.saturation, .hue] { estimate.recordNone(family) }
        /// Every family's pose from profiles and hue histograms, whatever the images show.
        func readByProfiles() -> (plain: [[Double]], refitted: [[Double]]) {
            // Colour and values move each other's readings: a hue turn reorders the channels' values,
            // a change of saturation moves them towards each pixel's gray, gamma moves chroma against
            // gray, and a clamp at white moves hue and saturation. So they are read in turn, each
            // with what the other found undone: the hue first against the class (a turn is the one
            // change nothing else imitates much), then twice over the values with the colour seen
            // so far undone and the colour against what those values predict, then the values once
            // more. A colour spread below the report's "none" (±5°, ×1.05) is not undone: a clamp
            // makes one of a brightening, and undoing it would only move the values (sprites
            // brightened within ±20% then read gamma ×0.94–×1.06).
            var undo: [(Float, Float)]? = nil
            if colour && estimated.contains(.hue) {
                let hueAlone = PhotometricSpread(estimated: [.hue])
                let hues = Self.huesAgainstClass(imageOnUnit, count: n, plane: plane, groups: groups).map { $0.map { ($0, Float(0)) } }
                hueAlone.readColour(plain: hues, moved: hues.enumerated().map { row, pose in pose.map { ($0.0 + colourDelta[row].1, $0.1) } },
                                    deltas: colourDelta, groups: groups, random: random, into: &estimate)
                if estimate.widths[.hue]! > Self.hueSeen { undo = Self.colourUndo(hues, groups: groups).map { (0, $0.1) } }
            }
            var (plain, refitted) = valueFits(colourUndo: undo)
            if colour {
                for _ in 0..<2 {
                    // Each class's exemplar: the member whose values fit nearest its reference.
                    var exemplars: [Int: Int] = [:]
                    for (g, members) in Dictionary(grouping: 0..<n, by: { groups[$0] }) {
                        exemplars[g] = members.min { plain[$0].reduce(0) { $0 + $1 * $1 } < plain[$1].reduce(0) { $0 + $1 * $1 } }
                    }
                    let poses = colourPoses(valueFits: plain, exemplars: exemplars)
                    readColour(plain: poses.plain, moved: poses.moved, deltas: colourDelta, groups: groups, random: random, into: &estimate)
                    let (saturationSeen, hueSeen) = (estimate.widths[.saturation]! > Self.saturationSeen, estimate.widths[.hue]! > Self.hueSeen)
                    let undoneBefore = undo != nil
                    undo = saturationSeen || hueSeen ? Self.colourUndo(poses.plain, groups: groups).map { (saturationSeen ? $0.0 : 0, hueSeen ? $0.1 : 0) } : nil
                    // Nothing undone now or before: the fits would be those at hand.
                    if undo != nil || undoneBefore { (plain, refitted) = valueFits(colourUndo: undo) }
                }
            }
            return (plain, refitted)
        }
        let (plain, refitted): ([[Double]], [[Double]])
        if let references = onePictureReferences(imageOnUnit, count: n, channels: c, plane: plane, groups: groups) {
            // Every class one picture: all five families at once, pixel by pixel, each pair moved
            // by its values' and its colour's δ together.
            let moved = { (row: Int) in
                adjusted(imageOnUnit(row), delta[(row * 3)..<(row * 3 + 3)].map { Foundation.exp($0) }
                         + (colour ? [Foundation.exp(colourDelta[row].0), colourDelta[row].1] : [1, 0]))
            }
            let fits = readPixelByPixel(imageOnUnit, moved: moved, references: references, groups: groups, channels: c, plane: plane)
            (plain, refitted) = (fits.plain.map { Array($0[0..<3]) }, fits.moved.map { Array($0[0..<3]) })
            if colour {
                let withColour = (0..<n).map { Self.hueHistogram(imageOnUnit($0), plane: plane) != nil }
                let pose = { (f: [Double], row: Int) -> (hue: Float, saturation: Float)? in withColour[row] ? (Float(f[4]), Float(f[3])) : nil }
                readColour(plain: (0..<n).map { pose(fits.plain[$0], $0) }, moved: (0..<n).map { pose(fits.moved[$0], $0) },
                           deltas: colourDelta, groups: groups, random: random, into: &estimate)
            }
        } else {
            (plain, refitted) = readByProfiles()
        }
        for family in [PhotometricFamily.brightness, .contrast, .gamma] {
            let k = family.index
            guard estimated.contains(family) else {
                estimate.recordNone(family)
                continue
            }
            let poses = (0..<n).map { Float(plain[$0][k]) }
            let deltas = (0..<n).map { i in (0..<3).map { Double(delta[i * 3 + $0]) } }
            let changes = (0..<n).map { refitted[$0][k] - plain[$0][k] }
            let gainRead = SpreadEstimator.theilSen(deltas.map { $0[k] }, changes)
            // Each family's δ is drawn on its own, so the slope on one δ alone is the response to
            // it (the others' add noise, not bias); Theil–Sen as for the gain: a few pairs whose
            // fit jumps (a clamp crossed) would carry a least-squares slope (the sprites under
            // contrast ×1.6 then read brightness 1.46 per unit of its own δ where Theil–Sen reads 0.99).
            estimate.responses[family] = Dictionary(uniqueKeysWithValues: families.filter(estimated.contains).map { j in
                (j, Float(j == family ? gainRead : SpreadEstimator.theilSen(deltas.map { $0[j.index] }, changes)))
            })
            let all = Self.reading(poses: poses, groups: groups, deltas: deltas, family: k, changes: changes, gain: gainRead)
            estimate.record(family, all, gain: gainRead) {
                SpreadEstimator.band(images: n, random: random.stream(UInt64(32 + k))) { drawn in
                    Self.reading(poses: drawn.map { poses[$0] }, groups: drawn.map { groups[$0] }, deltas: drawn.map { deltas[$0] },
                                 family: k, changes: drawn.map { changes[$0] }, gain: gainRead).width
                }
            }
        }
        return estimate
    }

    /// What the fit compares of one image (values on [0, 1]): per channel its darkest value
    /// and `inkQuantiles` quantiles of the values above it by `inkMargin` (of all its values
    /// when none is), and, to compute the image's mean under a trial γ, `meanQuantiles` of all.
    struct Profile {
        var values: [Double]
        var meanSamples: [Double]
    }

    static func profile(_ image: [Double], channels: Int) -> Profile {
        let plane = image.count / channels
        var values: [Double] = [], meanSamples: [Double] = []
        for c in 0..<channels {
            let sorted = image[(c * plane)..<((c + 1) * plane)].sorted()
            let darkest = sorted[0]
            let inkStart = sorted.firstIndex { $0 > darkest + inkMargin } ?? 0
            let ink = sorted[inkStart...]
            values.append(darkest)
            for j in 0..<inkQuantiles {
                let position = (Double(j) + 0.5) / Double(inkQuantiles) * Double(ink.count - 1)
                let low = Int(position), high = min(ink.count - 1, low + 1), t = position - Double(low)
                values.append(ink[ink.startIndex + low] * (1 - t) + ink[ink.startIndex + high] * t)
            }
            for j in 0..<meanQuantiles { meanSamples.append(sorted[min(plane - 1, (2 * j + 1) * plane / (2 * meanQuantiles))]) }
        }
        return Profile(values: values, meanSamples: meanSamples)
    }

    /// The map T(v) = clamp(m + κ·(clamp(β·v) − m))^γ of the reference's profile values, with m
    /// the image's own mean before γ (its values raised to 1/γ).
    static func mapped(_ reference: [Double], logFactors f: [Double], image: Profile, channels: Int, grayWeights: [Double]) -> [Double] {
        let (beta, kappa, gamma) = (Foundation.exp(f[0]), Foundation.exp(f[1]), Foundation.exp(f[2]))
        let perChannel = image.meanSamples.count / channels
        var m = 0.0
        for c in 0..<channels {
            var sum = 0.0
            for j in 0..<perChannel { sum += pow(max(0, image.meanSamples[c * perChannel + j]), 1 / gamma) }
            m += grayWeights[c] * sum / Double(perChannel)
        }
        return reference.map { v in
            let q2 = min(1, max(0, m + kappa * (min(1, max(0, beta * v)) - m)))
            return q2 > 0 ? pow(q2, gamma) : 0
        }
    }

    /// One family's full width from the log-factors and the pairs: the width less the fit's
    /// error, the raw width, the error. A pair's change is g·δ_k plus what the other families'
    /// δ and each image's own gain add (both grow with δ) plus two fits' errors (which do not):
    /// the squared residuals regressed on the squared δ of every family leave the errors as the
    /// intercept, 2σ². (Var(residual)/2, as for the affine generators, counted an image's own
    /// gain as error: on sprites brightened within ±20% it grew in step with δ, 0.07 of θ at
    /// δ within ±0.01 and 0.24 at ±0.1.)
    static func reading(poses: [Float], groups: [Int], deltas: [[Double]], family k: Int, changes: [Double], gain: Double)
        -> (width: Float, raw: Float, error: Float) {
        let variance = SpreadEstimator.withinGroupVariance(poses, groups: groups)
        let residuals = zip(deltas, changes).map { $1 - gain * $0[k] }
        let mean = residuals.reduce(0, +) / Double(max(1, residuals.count))
        let noise = max(0, interceptOfSquares(residuals.map { ($0 - mean) * ($0 - mean) }, on: deltas) / 2)
        return (Float(2 * (3 * max(0, variance - noise)).squareRoot()), Float(2 * (3 * max(0, variance)).squareRoot()), Float(2 * (3 * noise).squareRoot()))
    }

    /// The intercept of the least-squares fit of `squares` on 1 and each δ's square (the mean
    /// when the fit is singular).
    static func interceptOfSquares(_ squares: [Double], on deltas: [[Double]]) -> Double {
        let m = 1 + (deltas.first?.count ?? 0)
        var normal = [Double](repeating: 0, count: m * m), right = [Double](repeating: 0, count: m)
        for (y, delta) in zip(squares, deltas) {
            let x: [Double] = [1.0] + delta.map { (d: Double) -> Double in d * d }
            for a in 0..<m {
                right[a] += x[a] * y
                for b in 0..<m { normal[a * m + b] += x[a] * x[b] }
            }
        }
        // Families not perturbed have δ = 0 throughout: their rows are 0, kept solvable.
        for a in 1..<m where normal[a * m + a] == 0 { normal[a * m + a] = 1 }
        return solve(normal, right, size: m)?[0] ?? squares.reduce(0, +) / Double(max(1, squares.count))
    }

    /// Log-factors (log β, log κ, log γ; families not estimated stay 0) whose map brings
    /// `reference` nearest the image's profile: Levenberg–Marquardt on the estimated families,
    /// the Jacobian by central differences; the background weighs `backgroundWeight`.
    func fit(_ image: Profile, reference: [Double], channels: Int, grayWeights: [Double]) -> [Double] {
        let free = [PhotometricFamily.brightness, .contrast, .gamma].filter(estimated.contains).map(\.index)
        var f = [0.0, 0.0, 0.0]
        guard !free.isEmpty else { return f }
        let weights = (0..<reference.count).map { $0 % (Self.inkQuantiles + 1) == 0 ? Self.backgroundWeight.squareRoot() : 1 }
        func residuals(_ f: [Double]) -> [Double] {
            let predicted = Self.mapped(reference, logFactors: f, image: image, channels: channels, grayWeights: grayWeights)
            return (0..<predicted.count).map { weights[$0] * (predicted[$0] - image.values[$0]) }
        }
        func cost(_ r: [Double]) -> Double { r.reduce(0) { $0 + $1 * $1 } }
        var current = residuals(f), currentCost = cost(current), damping = 1e-3
        let h = 1e-4
        for _ in 0..<iterations {
            let columns = free.map { k -> [Double] in
                var plus = f, minus = f
                plus[k] += h
                minus[k] -= h
                return zip(residuals(plus), residuals(minus)).map { ($0 - $1) / (2 * h) }
            }
            let m = free.count
            var normal = [Double](repeating: 0, count: m * m), gradient = [Double](repeating: 0, count: m)
            for a in 0..<m {
                for k in 0..<current.count { gradient[a] += columns[a][k] * current[k] }
                for b in 0..<m { for k in 0..<current.count { normal[a * m + b] += columns[a][k] * columns[b][k] } }
            }
            for a in 0..<m { normal[a * m + a] += damping * max(normal[a * m + a], 1e-9) + 1e-12 }
            guard let step = Self.solve(normal, gradient.map { -$0 }, size: m) else { break }
            var trial = f
            for (a, k) in free.enumerated() { trial[k] = max(-3, min(3, f[k] + step[a])) }
            let tried = residuals(trial), trialCost = cost(tried)
            if trialCost < currentCost {
                (f, current, currentCost) = (trial, tried, trialCost)
                damping = max(1e-9, damping / 3)
            } else {
                damping *= 4
                if damping > 1e8 { break }
            }
        }
        return f
    }

    /// x with A·x = b for a small symmetric positive definite A (Cholesky); nil when A is not.
    static func solve(_ a: [Double], _ b: [Double], size m: Int) -> [Double]? {
        var l = [Double](repeating: 0, count: m * m)
        for i in 0..<m {
            for j in 0...i {
                var sum = a[i * m + j]
                for k in 0..<j { sum -= l[i * m + k] * l[j * m + k] }
                if i == j {
                    guard sum > 0 else { return nil }
                    l[i * m + i] = sum.squareRoot()
                } else {
                    l[i * m + j] = sum / l[j * m + j]
                }
            }
        }
        var y = b
        for i in 0..<m { for k in 0..<i { y[i] -= l[i * m + k] * y[k] }; y[i] /= l[i * m + i] }
        for i in stride(from: m - 1, through: 0, by: -1) { for k in (i + 1)..<m { y[i] -= l[k * m + i] * y[k] }; y[i] /= l[i * m + i] }
        return y
    }
}
