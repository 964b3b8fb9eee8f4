"""Storage behind typed protocols (`protocols`), with typed rows (`records`); `sqlite` is the
embedded implementation."""
