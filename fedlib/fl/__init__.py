"""Horizontal federated learning: transcript, parties, strategies, the round loop, screening.

``transcript`` and ``protection`` are light and imported at once; the rest (torch models,
parties, the FedAvg round loop, experiments, FMTL) is imported on first use of a name.
"""

from fedlib._lazy import lazy_exports
from fedlib.fl.protection import PlaintextProtection, UpdateProtection
from fedlib.fl.transcript import KINDS, Message, Transcript, payload_nbytes

_EXPORTS = {
    "fedlib.fl.models": ["MLP", "LogisticRegression", "get_flat_params", "predict_proba",
                         "set_flat_params"],
    "fedlib.fl.party": ["DPSGDTrainer", "Party", "PartyClient", "StandardTrainer", "TrainStats"],
    "fedlib.fl.federation": ["Federation", "RoundRecord"],
    "fedlib.fl.loop": ["RoundLoop", "RoundOutcome", "run_rounds"],
    "fedlib.fl.strategies": ["FMTLStrategy", "FedAvg", "FederatedParty", "FitInstruction",
                             "FitResult", "ReputationScreen", "Strategy", "Uploads"],
    "fedlib.fl.reputation": ["ReputationLedger", "ReputationParams"],
    "fedlib.fl.screening": ["BEHAVIOURS", "BankClient", "ScreenedRun", "rounds_to_target",
                            "run_screened_fedavg"],
    "fedlib.fl.experiment": ["ClientMode", "FederationRun", "PartyData", "RunComparison",
                             "build_parties", "compare_runs", "run_federation"],
    "fedlib.fl.prepare": ["FederatedData", "prepare_horizontal"],
    "fedlib.fl.leakage": ["CollusionLeak", "SubtractionLeak", "recover_by_collusion",
                          "recover_by_subtraction"],
    "fedlib.fl.fmtl": ["FMTLClient", "FMTLParty", "institution_report", "make_clients",
                       "run_federated", "server_view"],
}
_lazy_all, __getattr__ = lazy_exports("fedlib.fl", _EXPORTS)
__all__ = ["KINDS", "Message", "PlaintextProtection", "Transcript", "UpdateProtection",
           "payload_nbytes"]
__all__ += _lazy_all
