//! The variables a parsed template reads from its context, as dotted paths:
//! what `MiniJinja`'s `Template::undeclared_variables(true)` answers, found on
//! the syntax tree `validate` has parsed already. That method parses the
//! template once more (and `template_from_str` before it compiles it): for
//! `validate`, which reads every template of every file, the two were more
//! than a third of the rules' time. The walk follows `MiniJinja`'s own
//! (`compiler/meta.rs`, pinned by Cargo.lock with the `unstable_machinery` API
//! this reads): a name the template assigns (`set`, a loop target, a macro
//! argument) is in scope for the block that assigned it, and a chain of
//! attributes on a free name is one path (`steps.a.value`).

use foldhash::{HashSet, HashSetExt};
use minijinja::machinery::ast::{CallArg, Expr, Macro, Stmt};

/// The dotted paths `template` reads that it does not assign itself.
pub fn paths(template: &Stmt<'_>) -> HashSet<String> {
    let mut walk = Walk {
        found: HashSet::new(),
        scopes: vec![HashSet::new()],
    };
    walk.stmt(template);
    walk.found
}

struct Walk<'a> {
    found: HashSet<String>,
    /// The names assigned in each enclosing block, innermost last.
    scopes: Vec<HashSet<&'a str>>,
}

impl<'a> Walk<'a> {
    fn assigned(&self, name: &str) -> bool {
        self.scopes.iter().any(|scope| scope.contains(name))
    }

    fn assign(&mut self, name: &'a str) {
        if let Some(scope) = self.scopes.last_mut() {
            scope.insert(name);
        }
    }

    /// Walks `body` in a block of its own.
    fn block(&mut self, body: &[Stmt<'a>]) {
        self.scopes.push(HashSet::new());
        for stmt in body {
            self.stmt(stmt);
        }
        self.scopes.pop();
    }

    fn target(&mut self, expr: &Expr<'a>) {
        match expr {
            Expr::Var(var) => self.assign(var.id),
            Expr::List(list) => list.items.iter().for_each(|item| self.target(item)),
            Expr::Tuple(tuple) => tuple.items.iter().for_each(|item| self.target(item)),
            _ => {}
        }
    }

    fn arg(&mut self, arg: &CallArg<'a>) {
        match arg {
            CallArg::Pos(expr)
            | CallArg::Kwarg(_, expr)
            | CallArg::PosSplat(expr)
            | CallArg::KwargSplat(expr) => self.expr(expr),
        }
    }

    fn opt(&mut self, expr: Option<&Expr<'a>>) {
        if let Some(expr) = expr {
            self.expr(expr);
        }
    }

    fn expr(&mut self, expr: &Expr<'a>) {
        match expr {
            Expr::Var(var) => {
                if !self.assigned(var.id) {
                    self.found.insert(var.id.to_owned());
                }
            }
            Expr::Const(_) => {}
            Expr::UnaryOp(op) => self.expr(&op.expr),
            Expr::BinOp(op) => {
                self.expr(&op.left);
                self.expr(&op.right);
            }
            Expr::Compare(compare) => {
                self.expr(&compare.expr);
                compare.ops.iter().for_each(|op| self.expr(&op.expr));
            }
            Expr::IfExpr(test) => {
                self.expr(&test.test_expr);
                self.expr(&test.true_expr);
                self.opt(test.false_expr.as_ref());
            }
            Expr::Filter(filter) => {
                self.opt(filter.expr.as_ref());
                filter.args.iter().for_each(|arg| self.arg(arg));
            }
            Expr::Test(test) => {
                self.expr(&test.expr);
                test.args.iter().for_each(|arg| self.arg(arg));
            }
            Expr::GetAttr(get) => {
                // `a.b.c` on a free `a` is the one path `a.b.c`.
                let mut attributes = vec![get.name];
                let mut inner = &get.expr;
                loop {
                    match inner {
                        Expr::Var(var) if !self.assigned(var.id) => {
                            let mut path = var.id.to_owned();
                            for attribute in attributes.iter().rev() {
                                path.push('.');
                                path.push_str(attribute);
                            }
                            self.found.insert(path);
                            return;
                        }
                        Expr::GetAttr(get) => {
                            attributes.push(get.name);
                            inner = &get.expr;
                        }
                        _ => break,
                    }
                }
                self.expr(&get.expr);
            }
            Expr::GetItem(get) => {
                self.expr(&get.expr);
                self.expr(&get.subscript_expr);
            }
            Expr::Slice(slice) => {
                self.opt(slice.start.as_ref());
                self.opt(slice.stop.as_ref());
                self.opt(slice.step.as_ref());
            }
            Expr::Call(call) => {
                self.expr(&call.expr);
                call.args.iter().for_each(|arg| self.arg(arg));
            }
            Expr::List(list) => list.items.iter().for_each(|item| self.expr(item)),
            Expr::Tuple(tuple) => tuple.items.iter().for_each(|item| self.expr(item)),
            Expr::Map(map) => map.keys.iter().zip(&map.values).for_each(|(k, v)| {
                self.expr(k);
                self.expr(v);
            }),
        }
    }

    /// A macro's body: `caller` and its arguments are its own.
    fn macro_body(&mut self, m: &Macro<'a>) {
        self.assign("caller");
        m.args.iter().for_each(|arg| self.target(arg));
        m.defaults.iter().for_each(|default| self.expr(default));
        m.body.iter().for_each(|stmt| self.stmt(stmt));
    }

    fn stmt(&mut self, stmt: &Stmt<'a>) {
        match stmt {
            Stmt::Template(template) => {
                self.assign("self");
                template.children.iter().for_each(|child| self.stmt(child));
            }
            Stmt::EmitExpr(emit) => self.expr(&emit.expr),
            Stmt::EmitRaw(_) | Stmt::Extends(_) | Stmt::Include(_) => {}
            Stmt::ForLoop(for_loop) => {
                self.scopes.push(HashSet::new());
                self.assign("loop");
                self.expr(&for_loop.iter);
                self.target(&for_loop.target);
                self.opt(for_loop.filter_expr.as_ref());
                for_loop.body.iter().for_each(|stmt| self.stmt(stmt));
                self.scopes.pop();
                self.block(&for_loop.else_body);
            }
            Stmt::IfCond(cond) => {
                self.expr(&cond.expr);
                self.block(&cond.true_body);
                self.block(&cond.false_body);
            }
            Stmt::WithBlock(with) => {
                self.scopes.push(HashSet::new());
                for (target, expr) in &with.assignments {
                    self.target(target);
                    self.expr(expr);
                }
                with.body.iter().for_each(|stmt| self.stmt(stmt));
                self.scopes.pop();
            }
            Stmt::Set(set) => {
                self.target(&set.target);
                self.expr(&set.expr);
            }
            Stmt::AutoEscape(block) => self.block(&block.body),
            Stmt::FilterBlock(block) => self.block(&block.body),
            Stmt::SetBlock(set) => {
                self.target(&set.target);
                self.block(&set.body);
            }
            Stmt::Block(block) => {
                self.scopes.push(HashSet::new());
                self.assign("super");
                block.body.iter().for_each(|stmt| self.stmt(stmt));
                self.scopes.pop();
            }
            Stmt::Import(import) => self.target(&import.name),
            Stmt::FromImport(import) => {
                for (name, alias) in &import.names {
                    self.target(alias.as_ref().unwrap_or(name));
                }
            }
            Stmt::Macro(m) => {
                self.assign(m.name);
                self.scopes.push(HashSet::new());
                self.macro_body(m);
                self.scopes.pop();
            }
            Stmt::CallBlock(call) => {
                self.expr(&call.call.expr);
                call.call.args.iter().for_each(|arg| self.arg(arg));
                self.scopes.push(HashSet::new());
                self.macro_body(&call.macro_decl);
                self.scopes.pop();
            }
            Stmt::Do(call) => {
                self.expr(&call.call.expr);
                call.call.args.iter().for_each(|arg| self.arg(arg));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use minijinja::machinery::parse;

    use super::*;

    /// The walk answers what `MiniJinja`'s own method answers, on templates
    /// that assign, loop, shadow, define macros and call them.
    #[test]
    fn finds_what_minijinja_finds() {
        let env = crate::template::environment();
        for source in [
            "{{ inputs.a }}/{{ steps.b.json.result.id }}{{ run.id }}",
            "{% for z in steps.zones.json.result if z.ok %}{{ z.name }}{{ loop.index }}{{ inputs.x }}{% else %}{{ z }}{% endfor %}{{ z.after }}",
            "{% set t = inputs.token %}{{ t.value }}{{ t }}{% set a, b = steps.pair %}{{ a.x }}{{ b }}",
            "{% if inputs.flag %}{% set inner = 1 %}{{ inner }}{% else %}{{ inner.x }}{% endif %}{{ inner }}",
            "{% with w = steps.one.value, v = w %}{{ w.part }}{{ v }}{% endwith %}{{ w }}",
            "{% macro m(a, b=inputs.d) %}{{ a.x }}{{ b }}{{ caller() }}{{ steps.m.value }}{% endmacro %}{{ m(1) }}",
            "{% call(row) m(steps.rows.json) %}{{ row.id }}{{ inputs.c }}{% endcall %}",
            "{% filter upper(inputs.f) %}{{ steps.x.value }}{% endfilter %}{% set s | trim %}{{ s }}{{ inputs.s }}{% endset %}{{ s.y }}",
            "{{ inputs.token[:4] }}{{ steps.a.json.items[0].id }}{{ (steps.b).c }}{{ dict(a=inputs.k).a }}",
            "{{ steps.x.value if inputs.y is defined else inputs.z | default(run.operator) }}",
            "{{ [inputs.l1, inputs.l2] ~ (inputs.t1, ) }}{{ {'k': inputs.mv, inputs.mk: 1} }}{{ not inputs.n and 1 < steps.c.value < 3 }}",
            "{% autoescape inputs.ae %}{{ self }}{{ steps.ae.value }}{% endautoescape %}{% do range(inputs.r) %}",
            "{% block b %}{{ super() }}{{ inputs.blk }}{% endblock %}{% import 'x' as imported %}{{ imported.m }}{% from 'y' import f as g, h %}{{ g }}{{ h.i }}",
            "{% raw %}{{ inputs.raw }}{% endraw %}{# {{ inputs.comment }} #}plain",
        ] {
            let expected = env
                .template_from_str(source)
                .expect(source)
                .undeclared_variables(true);
            let ast = parse(source, "<string>", env.syntax().clone()).expect(source);
            let found: std::collections::HashSet<String> = paths(&ast).into_iter().collect();
            assert_eq!(found, expected, "{source}");
        }
    }
}
