use super::*;
use crate::repo::yaml::{Pos, parse_documents};

fn diag(file: &str, line: usize, column: usize, field: &str) -> Diagnostic {
    Diagnostic {
        file: file.into(),
        pos: Pos { line, column },
        field: field.into(),
        message: "bad (environment prod)".into(),
    }
}

#[test]
fn problems_of_the_promoted_file_are_shown_where_they_are_in_the_restored_one() {
    let was =
        "# c\nspec:\n  autoscaling: {maxReplicas: 10, targetMemoryUtilizationPercentage: 80}\n";
    let written = "spec:\n  image: x\n  autoscaling:\n    maxReplicas: 10\n    targetMemoryUtilizationPercentage: 80\n";
    let was = parse_documents(was).unwrap_or_default().into_iter().next();
    let file = Path::new("environments/prod/iris.yaml");
    let lines = shown_where_written(
        &[
            diag(
                "environments/prod/iris.yaml",
                5,
                5,
                "spec.autoscaling.targetMemoryUtilizationPercentage",
            ),
            diag("environments/prod/iris.yaml", 2, 3, "spec.image"),
            diag("services/iris.yaml", 9, 3, "spec.image"),
        ],
        file,
        was.as_ref(),
        written,
    );
    assert_eq!(
        lines,
        [
            "environments/prod/iris.yaml:3:34: spec.autoscaling.targetMemoryUtilizationPercentage: bad (environment prod)",
            "environments/prod/iris.yaml (as promoted): spec.image: bad (environment prod)",
            "services/iris.yaml:9:3: spec.image: bad (environment prod)",
        ]
    );
}

#[test]
fn comments_other_than_the_modeline_are_noticed() {
    let modeline = "# yaml-language-server: $schema=x.json\nspec: {}\n";
    assert!(!has_comments(modeline));
    assert_eq!(
        modeline_of(modeline),
        Some("# yaml-language-server: $schema=x.json")
    );
    assert!(has_comments("spec:\n  # why\n  image: x\n"));
    assert!(has_comments("spec:\n  image: x # why\n"));
    assert!(!has_comments("spec:\n  image: x#y\n"));
}
