package evaluate

import (
	"fmt"

	"github.com/optraj/optraj/influence"
)

// Inspected are the shares of the training set at which the mislabel
// table reports the share of flipped labels found, as `optraj attribute`
// does.
var Inspected = []float64{0.05, 0.10, 0.20, 0.30}

// curvePoints is the number of points of each detection curve, at shares
// 0, 1/(curvePoints−1), …, 1 of the training set inspected.
const curvePoints = 101

// MislabelMethod is how well one detector of a method finds flipped
// labels.
type MislabelMethod struct {
	Method   string    `json:"method"`
	Detector string    `json:"detector"`
	Found    []float64 `json:"found_at_inspected"` // at Inspected
	Curve    []float64 `json:"curve"`              // at CurveShares
	AUC      float64   `json:"auc"`                // under Curve
	ROC      float64   `json:"roc_auc"`            // under the ROC curve
	Err      string    `json:"error,omitempty"`
}

// MislabelResult is the mislabel-detection protocol's result.
type MislabelResult struct {
	Flipped     int              `json:"flipped"`
	Inspected   []float64        `json:"inspected"`
	CurveShares []float64        `json:"curve_shares"`
	Methods     []MislabelMethod `json:"methods"`
}

// Mislabel ranks the training points by every detector of each method,
// most suspect first, and measures how soon the flipped points come up.
// It returns an error if there are no flipped points.
func Mislabel(flipped []int, methods []*Attribution) (*MislabelResult, error) {
	if len(flipped) == 0 {
		return nil, fmt.Errorf("evaluate: mislabel detection without flipped labels")
	}
	shares := make([]float64, curvePoints)
	for k := range shares {
		shares[k] = float64(k) / (curvePoints - 1)
	}
	res := &MislabelResult{Flipped: len(flipped), Inspected: Inspected,
		CurveShares: shares}
	for _, a := range methods {
		ms, err := detect(flipped, a, shares)
		if err != nil {
			return nil, err
		}
		res.Methods = append(res.Methods, ms...)
	}
	return res, nil
}

// detect returns the results of a's detectors.
func detect(flipped []int, a *Attribution, shares []float64) ([]MislabelMethod, error) {
	switch {
	case a.Err != nil:
		return []MislabelMethod{{Method: a.Method, Err: a.Err.Error()}}, nil
	case len(a.Detectors) == 0:
		return []MislabelMethod{{Method: a.Method,
			Err: "no detector over every training point"}}, nil
	}
	var out []MislabelMethod
	for _, d := range a.Detectors {
		rank := influence.Rank(d.Scores, influence.Descending)
		found, err := influence.Detection(rank, flipped, Inspected)
		if err != nil {
			return nil, err
		}
		curve, err := influence.Detection(rank, flipped, shares)
		if err != nil {
			return nil, err
		}
		out = append(out, MislabelMethod{Method: a.Method, Detector: d.Name,
			Found: found, Curve: curve, AUC: influence.DetectionAUC(rank, flipped),
			ROC: influence.DetectionROC(rank, flipped)})
	}
	return out, nil
}
