"""The REST API: score one transaction or a batch with the champion and the online features,
health and readiness probes, and Prometheus metrics."""

import logging
import math
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from fraud_assets.serving import metrics
from fraud_assets.serving.lines import Transaction, wall_clock_seconds
from fraud_assets.serving.scorer import NotScored, Scored, Scorer

logger = logging.getLogger(__name__)

SOURCE = "rest"
MAX_BATCH = 1_000
_INT64_MAX = 2**63 - 1
# The largest amount the cleaning rules admit: 12 integer and 6 decimal digits.
MAX_AMOUNT = 999_999_999_999.999999

# The feed's time shape, with the ranges of its fields; a calendar check follows (no 02-30).
_DATETIME = (
    r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]) "
    r"(([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]|24:00:00)$"
)

Identifier = Annotated[int, Field(ge=0, le=_INT64_MAX)]


class RawTransaction(BaseModel):
    """A transaction as the feed writes it; the label only when it is already known."""

    model_config = ConfigDict(extra="forbid", strict=True)

    transaction_id: Identifier
    tx_datetime: Annotated[
        str,
        Field(
            pattern=_DATETIME,
            examples=["2019-08-22 06:51:03"],
            description="written wall-clock time; 24:00:00 is the next midnight",
        ),
    ]
    customer_id: Identifier
    terminal_id: Identifier
    tx_amount: Annotated[
        float,
        Field(gt=0, le=MAX_AMOUNT, allow_inf_nan=False, description="at most 6 decimals"),
    ]
    tx_fraud: Literal[0, 1] | None = None

    @field_validator("tx_datetime")
    @classmethod
    def _real_time(cls, value: str) -> str:
        if wall_clock_seconds(value) is None:
            raise ValueError("not a calendar time: YYYY-MM-DD HH:MM:SS (24:00:00 for midnight)")
        return value

    @field_validator("tx_amount")
    @classmethod
    def _six_decimals(cls, value: float) -> float:
        if Decimal(repr(value)).as_tuple().exponent < -6:
            raise ValueError("at most 6 decimals")
        return value

    def transaction(self) -> Transaction:
        seconds = wall_clock_seconds(self.tx_datetime)
        assert seconds is not None
        return Transaction(
            self.transaction_id,
            seconds,
            self.customer_id,
            self.terminal_id,
            self.tx_amount,
            self.tx_fraud,
        )


class TransactionBatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    transactions: Annotated[list[RawTransaction], Field(min_length=1, max_length=MAX_BATCH)]


class ScoreResult(BaseModel):
    transaction_id: int
    score: float | None = Field(description="fraud probability; null when not scored")
    alert: bool
    model_version: str | None
    status: Literal["scored", "duplicate_transaction", "conflicting_transaction_id"]


class BatchResult(BaseModel):
    results: list[ScoreResult]


class Problem(BaseModel):
    detail: str


def _json_safe(value: Any) -> Any:
    """A validation error as JSON can carry it: NaN and infinities (which a client may send,
    and the error echoes back) become their names."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


def _result(outcome: Scored | NotScored) -> dict[str, Any]:
    """A ScoreResult as JSON-ready values: built directly, since validating what this code
    just made would cost more than the scoring."""
    if isinstance(outcome, Scored):
        return {
            "transaction_id": outcome.transaction.transaction_id,
            "score": outcome.score,
            "alert": outcome.alert,
            "model_version": outcome.model_version,
            "status": "scored",
        }
    return {
        "transaction_id": outcome.transaction.transaction_id,
        "score": None,
        "alert": False,
        "model_version": None,
        "status": outcome.reason,
    }


class ScoringService:
    """The scorer behind the API, built in the background so that probes answer at once."""

    def __init__(self, build: Callable[[], Scorer]) -> None:
        self._build = build
        self.scorer: Scorer | None = None
        self.error: str | None = None
        self.lock = threading.Lock()

    def start(self) -> None:
        threading.Thread(target=self._load, name="scorer-warm-up", daemon=True).start()

    def _load(self) -> None:
        try:
            scorer = self._build()
            scorer.champion.current()
            metrics.record_state(scorer.state)
            self.scorer = scorer
            logger.info("ready: state %s", scorer.state.size())
        except Exception as error:  # the probe reports it; the process stays up to say so
            logger.exception("the scorer could not start")
            self.error = f"{type(error).__name__}: {error}"

    def score(self, transactions: list[Transaction]) -> list[Scored | NotScored]:
        if self.scorer is None:
            raise HTTPException(503, self.error or "warming up: the scorer is not ready yet")
        with self.lock:
            outcomes = self.scorer.score(transactions)
        metrics.record_outcomes(outcomes, SOURCE)
        champion = self.scorer.champion.loaded
        if champion is not None:
            metrics.CHAMPION_VERSION.set(float(champion.version))
        return outcomes


def create_app(service: ScoringService) -> "MeasuredApp":
    app = FastAPI(
        title="fraud_assets scoring API",
        version="1",
        description="Scores card transactions with the champion model and online features.",
    )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = _json_safe(jsonable_encoder(error.errors()))
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        # FastAPI answers 400 to a body it cannot decode (not UTF-8): to a client that is one
        # more malformed body, like a JSON syntax error, which is a 422.
        if error.status_code == 400:
            detail = [{"type": "json_invalid", "loc": ["body"], "msg": str(error.detail)}]
            return JSONResponse({"detail": detail}, status_code=422)
        return await http_exception_handler(request, error)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """The process answers."""
        return {"status": "ok"}

    @app.get("/readyz", responses={503: {"model": Problem}})
    def readyz():
        """Ready when the champion is loaded and the feature state warm."""
        scorer = service.scorer
        if scorer is None:
            detail = service.error or "warming up"
            return JSONResponse({"detail": detail}, status_code=503)
        champion = scorer.champion.loaded
        size = scorer.state.size()
        return {
            "status": "ready",
            "model_version": champion.version if champion else None,
            "customers": size.customers,
            "terminals": size.terminals,
        }

    @app.get("/metrics", response_class=Response)
    def prometheus_metrics() -> Response:
        if service.scorer is not None:
            metrics.record_state(service.scorer.state)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.post(
        "/v1/score",
        response_model=ScoreResult | BatchResult,
        responses={409: {"model": Problem}, 503: {"model": Problem}},
    )
    async def score(body: RawTransaction | TransactionBatch) -> JSONResponse:
        """Scores one transaction, or a batch in the given order. Each scored transaction
        joins the online state; a transaction id seen before is not scored again."""
        # On the event loop itself: scoring takes a fraction of a millisecond, less than a
        # hop to a worker thread, and one thread keeps the online state's order.
        if isinstance(body, RawTransaction):
            outcome = service.score([body.transaction()])[0]
            if isinstance(outcome, NotScored):
                raise HTTPException(
                    409, f"transaction {body.transaction_id} was scored before ({outcome.reason})"
                )
            return JSONResponse(_result(outcome))
        outcomes = service.score([item.transaction() for item in body.transactions])
        return JSONResponse({"results": [_result(outcome) for outcome in outcomes]})

    return MeasuredApp(app)


class MeasuredApp:
    """Counts and times every HTTP request by route, as plain ASGI: Starlette's
    `@middleware("http")` costs more per request than scoring one transaction."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_and_note(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            metrics.REQUESTS.labels(route, str(status[0])).inc()
            metrics.REQUEST_SECONDS.labels(route).observe(time.perf_counter() - started)
