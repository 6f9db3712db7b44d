"""One small form per POST action (healthchecks' habit); each carries the CSRF token."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField
from wtforms import EmailField
from wtforms import PasswordField
from wtforms import StringField
from wtforms import TextAreaField
from wtforms.validators import DataRequired
from wtforms.validators import Length


class LoginForm(FlaskForm):  # type: ignore[misc]
    email = EmailField("E-mail", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1000)])


class ActionForm(FlaskForm):  # type: ignore[misc]
    """A button: approve, lift, sign out. Only the CSRF token."""


class PauseForm(FlaskForm):  # type: ignore[misc]
    until = DateField("Until", validators=[DataRequired()])
    reason = StringField("Reason", validators=[DataRequired(), Length(max=500)])


class NoteForm(FlaskForm):  # type: ignore[misc]
    body = TextAreaField("Note", validators=[DataRequired(), Length(max=4000)])
