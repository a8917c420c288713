"""project.yml: strict pydantic models, a loader with file:line errors, the JSON schema."""

from headwater.config.models import ProjectConfig
from headwater.config.project import Project, find_project_file, load_project, read_secret

__all__ = ["Project", "ProjectConfig", "find_project_file", "load_project", "read_secret"]
