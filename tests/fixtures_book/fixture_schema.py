"""Parameter schema of the tiny fixture chapter the runner tests execute."""

from pydantic import Field

from fedlib.book.params import ChapterParams, DataPath, PositiveInt, Probability


class FixtureParams(ChapterParams):
    rounds: PositiveInt = Field(description="number of fake training rounds")
    rate: Probability = Field(description="a sampling rate")
    fail: bool = Field(description="raise in a cell on purpose")
    data_path: DataPath = Field(default=None, description="optional user data file")
