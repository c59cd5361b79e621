"""The mmvlm demo: data preparation (one module per data set), the
open-vocabulary step on ``mmvlm.apis`` and the report writer."""
